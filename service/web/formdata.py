"""Read a submitted HTML form back into the JSON object its schema describes.

Names are the dotted paths ``formview`` gives the inputs. Values are converted by the schema
(booleans, integers, dates in Stockholm time) but never judged here: what cannot be converted is
kept as typed, so ``validate_form`` reports it and the page shows it again next to its error.
Empty answers are left out, so "required" is what a person sees for a field left blank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from service.clock import STOCKHOLM

from .formview import MAX_ROWS, _kind

MISSING: Any = object()
ROWS_SUFFIX = ".__rows"
PRESENT_SUFFIX = ".__present"
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


def parse_form(schema: Mapping[str, Any] | None, ui: Mapping[str, Any] | None, form: MultiDict[str, str], *,
               keep_empty_rows: bool = False) -> dict[str, Any]:
    """The answers of ``form`` as a JSON object for ``schema`` (read-only fields are not answers)."""
    return _object(schema or {}, ui or {}, form, "", keep_empty_rows)


def _object(schema: Mapping[str, Any], ui: Mapping[str, Any], form: MultiDict[str, str], prefix: str,
            keep: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        sub_ui = ui.get(name) if isinstance(ui.get(name), dict) else {}
        value = _value(sub, sub_ui, form, prefix + name, name in required, keep)
        if value is not MISSING:
            result[name] = value
    return result


def _value(schema: Mapping[str, Any], ui: Mapping[str, Any], form: MultiDict[str, str], path: str,
           required: bool, keep: bool) -> Any:
    kind = _kind(schema, ui)
    if kind == "readonly":
        return MISSING
    if kind == "group":
        child = _object(schema, ui, form, path + ".", keep)
        return child if child or keep else MISSING
    if kind == "list":
        return _rows(schema, ui, form, path, keep)
    if kind == "checkboxes":
        chosen = [v for v in form.getlist(path) if v != ""]
        if chosen:
            return [_typed(schema.get("items") or {}, v) for v in chosen]
        return [] if required and path + PRESENT_SUFFIX in form else MISSING
    if kind == "lines":
        lines = [line.strip() for line in form.get(path, "").splitlines()]
        return [line for line in lines if line] or MISSING
    if kind == "checkbox":
        if path + PRESENT_SUFFIX not in form:
            return MISSING
        checked = form.get(path) == "true"
        return True if checked else (MISSING if schema.get("const") is True else False)
    raw = form.get(path, "")
    if raw.strip() == "":
        return MISSING
    if kind == "datetime":
        return _moment(raw)
    return _typed(schema, raw)


def _rows(schema: Mapping[str, Any], ui: Mapping[str, Any], form: MultiDict[str, str], path: str,
          keep: bool) -> Any:
    try:
        count = min(int(form.get(path + ROWS_SUFFIX, "0")), MAX_ROWS)
    except ValueError:
        count = 0
    items, items_ui = schema.get("items") or {}, ui.get("items") or {}
    rows = [_object(items, items_ui, form, f"{path}.{index}.", keep) for index in range(max(count, 0))]
    # an untouched row says nothing, even when its required checkboxes report "none chosen"
    rows = rows if keep else [row for row in rows if any(v not in ([], {}) for v in row.values())]
    return rows if rows or keep else MISSING


def _typed(schema: Mapping[str, Any], raw: str) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "boolean" or (kind is None and raw in ("true", "false")):
        return {"true": True, "false": False}.get(raw, raw)
    if kind == "integer" and _INTEGER.match(raw.strip()):
        return int(raw.strip())
    if kind == "number" and _NUMBER.match(raw.strip()):
        number = float(raw.strip().replace(",", "."))
        return int(number) if number.is_integer() else number
    return raw


def _moment(raw: str) -> str:
    """A ``datetime-local`` value (Stockholm wall time) as ISO 8601 with its offset."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment.isoformat(timespec="seconds")  # RFC 3339 (JSON Schema date-time) needs the seconds


def apply_row_action(values: dict[str, Any], action: str) -> None:
    """``add:<path>`` appends an empty row to a list; ``remove:<path>.<n>`` removes row ``n``."""
    verb, _, target = action.partition(":")
    if verb == "remove":
        target, _, index_text = target.rpartition(".")
    container, key = _locate(values, target)
    if container is None:
        return
    rows = container.get(key)
    rows = rows if isinstance(rows, list) else []
    if verb == "add" and len(rows) < MAX_ROWS:
        container[key] = [*rows, {}] if rows else [{}, {}]
    elif verb == "remove" and index_text.isdigit() and int(index_text) < len(rows):
        del rows[int(index_text)]
        container[key] = rows


def _locate(values: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    parts = path.split(".")
    node: Any = values
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return None, ""
    return (node, parts[-1]) if isinstance(node, dict) else (None, "")


def read_submission(schema: Mapping[str, Any] | None, ui: Mapping[str, Any] | None,
                    form: MultiDict[str, str]) -> tuple[dict[str, Any], bool]:
    """``(answers, is_row_action)``: a press of "Lägg till"/"Ta bort" re-renders instead of submitting."""
    action = form.get("_action", "")
    if action.startswith(("add:", "remove:")):
        values = parse_form(schema, ui, form, keep_empty_rows=True)
        apply_row_action(values, action)
        return values, True
    return parse_form(schema, ui, form), False
