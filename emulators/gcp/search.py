"""The query language of projects.search and folders.search.

Terms are ``field:value`` or ``field=value``; values are case-insensitive, may be
quoted, may end with ``*`` (prefix) or be just ``*`` (field present). ``AND``,
``OR`` and ``NOT`` are understood, AND binding tighter than OR.

Quirk: for projects.search, Google documents that terms put side by side are
ORed ("labels.color:red labels.size:big" matches either label,
https://cloud.google.com/resource-manager/reference/rest/v3/projects/search),
so callers that mean AND must write AND. folders.search's documentation only
shows explicit AND; there side-by-side terms are ANDed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from .errors import bad_request

T = TypeVar("T")
# The values a resource has for a (lowercased) field: [] when it has none, None
# when the field is unknown.
FieldValues = Callable[[T, str], "list[str] | None"]

_TERM = re.compile(r"^(?P<field>[A-Za-z][\w.\-/]*)(?P<op>[:=])(?P<value>.*)$", re.S)


@dataclass
class Term:
    field: str
    value: str
    negated: bool = False

    def matches(self, values: list[str]) -> bool:
        wanted = self.value.lower()
        if wanted == "*":
            found = bool(values)
        elif wanted.endswith("*"):
            found = any(v.lower().startswith(wanted[:-1]) for v in values)
        else:
            found = any(v.lower() == wanted for v in values)
        return found != self.negated


def parse_query(query: str, side_by_side: str) -> list[list[Term]]:
    """Parse into a disjunction of conjunctions of terms."""
    try:
        tokens = shlex.split(query, posix=True)
    except ValueError as exc:
        raise bad_request("query", f"Invalid query {query!r}: {exc}.") from None
    groups: list[list[Term]] = []
    joiner, negate = "OR", False
    for token in tokens:
        if token in ("AND", "OR"):
            joiner = token
            continue
        if token == "NOT":
            negate = True
            continue
        match = _TERM.match(token)
        if not match:
            raise bad_request("query", f"Invalid query term {token!r}: expected field:value.")
        term = Term(match["field"].lower(), match["value"].strip('"'), negate)
        if joiner == "AND" and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        joiner, negate = side_by_side, False
    return groups


def search(items: Iterable[T], query: str, values_of: FieldValues, side_by_side: str) -> list[T]:
    groups = parse_query(query, side_by_side)
    if not groups:
        return list(items)
    results = []
    for item in items:
        matched = False
        for group in groups:
            ok = True
            for term in group:
                values = values_of(item, term.field)
                if values is None:
                    raise bad_request("query", f"Unknown field {term.field!r} in query.")
                if not term.matches(values):
                    ok = False
                    break
            if ok:
                matched = True
                break
        if matched:
            results.append(item)
    return results
