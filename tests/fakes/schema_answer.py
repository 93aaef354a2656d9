"""An answer built from a JSON schema and a document's text, as a model would fill it (for the fakes).

Each top-level property is looked for as "<its words>: <value>" in the text (`invoice_number` matches
"Invoice number: INV-17"), case-insensitively, the value running to the end of the line or to the next
"Label:" (a text layer joins a page's lines into one paragraph), and cast to the property's type; a property
not found is null when its type allows it, else an empty value of its type. Nested objects are filled the
same way.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["fill_from_text"]


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return r"[\s_\-]+".join(re.escape(w) for w in re.split(r"[\s_\-]+", spaced.lower()) if w)


def _types(node: dict[str, Any]) -> list[str]:
    t = node.get("type")
    if isinstance(t, list):
        return [str(x) for x in t]
    if isinstance(t, str):
        return [t]
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            return [x.get("type") for x in node[key] if isinstance(x, dict) and isinstance(x.get("type"), str)]
    return ["string"]


def _number(raw: str) -> float | None:
    m = re.search(r"[-+]?\d[\d,]*(?:\.\d+)?", raw)
    return float(m.group(0).replace(",", "")) if m else None


def _empty(types: list[str], node: dict[str, Any], text: str) -> Any:
    if "null" in types:
        return None
    kind = types[0] if types else "string"
    if kind == "object":
        return fill_from_text(node, text)
    return {"string": "", "number": 0, "integer": 0, "boolean": False, "array": []}.get(kind, "")


def fill_from_text(schema: dict[str, Any], text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name, node in props.items():
        node = node if isinstance(node, dict) else {}
        types = _types(node)
        m = re.search(r"(?i)\b" + _words(name) + r"\s*:\s*(.+?)\s*(?=$|\n|\s[A-Z][A-Za-z ]{0,30}:)", text)
        raw = m.group(1).strip() if m else None
        value: Any = None
        if raw is not None:
            if "number" in types or "integer" in types:
                value = _number(raw)
                if value is not None and "integer" in types and "number" not in types:
                    value = int(value)
            elif "boolean" in types:
                value = raw.lower() in ("yes", "true", "paid", "1")
            elif "string" in types:
                value = raw
        out[name] = value if value is not None else _empty(types, node, text)
    return out
