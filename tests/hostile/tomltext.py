"""A small TOML writer and hypothesis strategies for TOML values and TOML-ish text.

The standard library reads TOML but does not write it; this writer covers what the
fuzzers produce (scalars, arrays, inline tables), including nan and inf.
"""

from __future__ import annotations

import json
import math
import re

from hypothesis import strategies as st

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
SCALARS = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    TEXT, st.sampled_from(["", "7d", "0d", "-1d", "99999999999d", "12h", "1e9", "nan", "inf", "aws", "gcp"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)
# Characters TOML gives meaning to, plus letters, digits and a few troublemakers.
TOMLISH = st.lists(st.sampled_from(list('=[]{}"\'#.,:+-_ \n\t\\abcdefkprsvwxyz0123456789') +
                                   ['provider = "aws"\n', 'provider = "gcp"\n', "kind", "ttl", "nan", "inf",
                                    "\x00", "\x7f", "é", "\u202e", "[budget]\n", "amount_usd = "]),
                   max_size=80).map("".join)


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else string(name)


def string(text: str) -> str:
    # JSON strings are TOML basic strings, but for DEL, which TOML wants escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def value(item) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        if math.isinf(item):
            return "inf" if item > 0 else "-inf"
        return repr(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, list):
        return "[" + ", ".join(value(v) for v in item if v is not None) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items() if v is not None) + "}"
    raise TypeError(type(item))


def dumps(document: dict) -> str:
    """Scalars first, then each table as a [section] (nested tables inline); None: left out."""
    lines = [f"{key(k)} = {value(v)}" for k, v in document.items() if v is not None and not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{key(name)}]")
            lines += [f"{key(k)} = {value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
