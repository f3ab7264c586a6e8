"""Browser libraries installed from npm at set-up (``npm ci``), served by the service itself.

Municipal networks are closed, so nothing loads from a CDN. Only the files on the allow-list
below are served from ``node_modules`` — never the rest of the tree (package metadata, sources).
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory, url_for

from service.config import ROOT

NODE_MODULES = ROOT / "node_modules"

VENDOR_FILES = frozenset({
    "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-js/dist/assets/bpmn-js.css",
    "bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
    *(f"bpmn-js/dist/assets/bpmn-font/font/bpmn.{ext}" for ext in ("woff2", "woff", "ttf", "eot", "svg")),
    "bpmn-js-differ/dist/index.esm.js",  # the editor's version diff (an ES module, see ESM_IMPORTS)
    # dmn-js: the editor's decision tables (DMN files deployed with a routine)
    "dmn-js/dist/dmn-modeler.production.min.js",
    *(f"dmn-js/dist/assets/{name}.css" for name in ("diagram-js", "dmn-js-shared", "dmn-js-decision-table",
                                                    "dmn-js-decision-table-controls", "dmn-js-drd")),
    "dmn-js/dist/assets/dmn-font/css/dmn.css",
    *(f"dmn-js/dist/assets/dmn-font/font/dmn.{ext}" for ext in ("woff2", "woff", "ttf", "eot", "svg")),
    "min-dash/dist/index.js",
})

# ES modules that import other packages by bare name ("min-dash"), which a browser cannot resolve
# without a bundler or an inline import map (the pages' CSP allows no inline script): served with
# those names pointed at the allow-listed files instead. No build step, nothing generated at set-up.
ESM_IMPORTS = {
    "bpmn-js-differ/dist/index.esm.js": {"min-dash": "min-dash/dist/index.js"},
}

# Markup a library builds from HTML strings with ``style`` attributes, which the pages' CSP (style-src
# 'self') blocks and reports: served with the attributes taken out; static/samverkan.css styles the
# same elements by class (dmn-js's "Powered by bpmn.io" logo, which stays visible, its lightbox, and
# the decision table's drag image).
STYLE_ATTRIBUTES = {
    "dmn-js/dist/dmn-modeler.production.min.js": (
        re.compile(r"""\s?style="'\+\w+\(\[[^\]]*\]\)\+'"""),
        re.compile(r'\s?style="(?:position: absolute; bottom: 15px; right: 15px; z-index: 100;|vertical-align:middle'
                   r'|margin: 15px 20px 15px 10px; align-self: center;)"'),
        re.compile(r'<span style="\\n\s*visibility: hidden;[^"]*"'),
    ),
}

bp = Blueprint("assets", __name__)


@bp.get("/static/vendor/<path:name>")
def vendor(name: str) -> Response:
    """One allow-listed file of an npm package (cached for a day; versions are pinned in package-lock)."""
    if name not in VENDOR_FILES or not (NODE_MODULES / name).is_file():
        abort(404)
    if name in ESM_IMPORTS:
        source = (NODE_MODULES / name).read_text(encoding="utf-8")
        for package, target in ESM_IMPORTS[name].items():
            url = url_for("assets.vendor", name=target)
            source = source.replace(f"from '{package}'", f"from '{url}'").replace(f'from "{package}"', f'from "{url}"')
        response = Response(source, mimetype="text/javascript")
        response.cache_control.max_age = 86400
        return response
    if name in STYLE_ATTRIBUTES:
        source = (NODE_MODULES / name).read_text(encoding="utf-8")
        for pattern in STYLE_ATTRIBUTES[name]:
            source = pattern.sub(lambda m: '<span class="dmn-drag-image"' if m[0].startswith("<span") else "", source)
        response = Response(source, mimetype="text/javascript")
        response.cache_control.max_age = 86400
        return response
    return send_from_directory(Path(NODE_MODULES), name, max_age=86400)


def dmn_available() -> bool:
    """True when ``npm ci`` has installed dmn-js (the editor then opens a routine's decision tables)."""
    return (NODE_MODULES / "dmn-js/dist/dmn-modeler.production.min.js").is_file()


def available() -> bool:
    """True when ``npm ci`` has installed bpmn-js (pages show a text alternative otherwise)."""
    return (NODE_MODULES / "bpmn-js/dist/bpmn-navigated-viewer.production.min.js").is_file()
