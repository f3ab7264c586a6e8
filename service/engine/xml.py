"""Parse untrusted BPMN XML: no DTDs, no entities, no network, bounded size and depth."""

from __future__ import annotations

from lxml import etree

MAX_DEPTH = 100  # real diagrams nest < 15 levels; deep nesting is an attack or a broken file
MAX_ELEMENTS = 200_000


class XmlRejected(ValueError):
    """The file is not XML we are willing to read; the message says why (for the 422 problem list)."""


def parse_xml(content: bytes) -> etree._Element:
    """Parse ``content`` safely and return the root element, or raise ``XmlRejected``."""
    head = content[:4096].lstrip()
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content or _utf16_has_doctype(content):
        raise XmlRejected("DOCTYPE and entity declarations are not allowed in BPMN files")
    if not head.startswith((b"<", b"\xef\xbb\xbf<", b"\xff\xfe", b"\xfe\xff")):
        raise XmlRejected("not an XML document")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_blank_text=False,
    )
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as err:
        if "depth" in str(err).lower():
            raise XmlRejected(f"XML nested deeper than {MAX_DEPTH} levels") from err
        raise XmlRejected(f"not well-formed XML: {err}") from err
    except ValueError as err:  # e.g. a unicode string with an encoding declaration
        raise XmlRejected(f"unreadable XML: {err}") from err
    if root.getroottree().docinfo.doctype:
        raise XmlRejected("DOCTYPE declarations are not allowed in BPMN files")
    _check_shape(root)
    return root


def _utf16_has_doctype(content: bytes) -> bool:
    if not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        text = content.decode("utf-16")
    except UnicodeDecodeError:
        return False
    return "<!DOCTYPE" in text or "<!ENTITY" in text


def _check_shape(root: etree._Element) -> None:
    for count, _element in enumerate(root.iter(), start=1):
        if count > MAX_ELEMENTS:
            raise XmlRejected(f"too many XML elements (more than {MAX_ELEMENTS})")
    # Depth: walk with an explicit stack so a hostile document cannot exhaust Python's stack.
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise XmlRejected(f"XML nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in element)
