"""Parse untrusted BPMN XML: no DTDs, no entities, no network, bounded size and depth."""

from __future__ import annotations

import re

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
        raise XmlRejected(not_well_formed(err)) from err
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


# libxml2's wording for the common breaks → what to change (the modeler fixes the file, not the parser)
_SYNTAX = (
    (re.compile(r"Premature end of data in tag (\S+) line (\d+)"),
     r"the tag <\1> opened on line \2 is never closed: close it (</\1> or />)"),
    (re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)"),
     r"the tag <\1> opened on line \2 is closed by </\3>: make the closing tag match"),
    (re.compile(r"Couldn't find end of Start Tag (\S+)"),
     r"the tag <\1> is not finished: check its quotes and the closing >"),
    (re.compile(r"AttValue: \" or ' expected|attributes construct error"),
     "an attribute value lacks its quotes: write name=\"value\""),
    (re.compile(r"Attribute (\S+) redefined"), r"the attribute \1 is given twice on one element: keep one"),
    (re.compile(r"EntityRef: expecting ';'|xmlParseEntityRef: no name"), "a bare & in text: write it as &amp;"),
    (re.compile(r"StartTag: invalid element name"), "a bare < in text: write it as &lt;"),
    (re.compile(r"Extra content at the end of the document"),
     "there is more after the last closing tag: a diagram has one root element"),
    (re.compile(r"Document is empty|Start tag expected"), "the file is empty or holds no XML element"),
)


def not_well_formed(err: etree.XMLSyntaxError) -> str:
    """A syntax error as a modeler can act on it: where, and what to change (libxml2's words otherwise)."""
    reason = " ".join(str(getattr(err, "msg", "") or err).split())
    reason = re.sub(r",? line \d+, column \d+.*$", "", reason) if reason.count("line") > 1 else reason
    for pattern, say in _SYNTAX:
        match = pattern.search(reason)
        if match:
            reason = match.expand(say)
            break
    line, column = getattr(err, "lineno", None), (getattr(err, "position", None) or (None, None))[1]
    where = f" at line {line}" + (f", column {column}" if column else "") if line else ""
    return f"not well-formed XML{where}: {reason}"
