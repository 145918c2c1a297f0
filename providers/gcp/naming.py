"""Pure functions that bend our names and tags into GCP's naming rules.

Project ids (https://cloud.google.com/resource-manager/docs/creating-managing-projects):
6-30 characters, lowercase letters, digits and hyphens, a letter first, no trailing
hyphen, and no restricted strings (google, null, undefined, ssl).

Labels (https://cloud.google.com/resource-manager/docs/labels-overview): at most 64;
keys 1-63 characters, a lowercase letter first, then [a-z0-9_-]; values 0-63 of
[a-z0-9_-]. International letters are allowed by GCP but we keep to ASCII so a value
reads the same in every billing export.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

from sandbox.errors import ProviderError

PROJECT_ID_MIN, PROJECT_ID_MAX = 6, 30
RESTRICTED = ("google", "null", "undefined", "ssl")
LABEL_MAX_LENGTH = 63
LABEL_MAX_COUNT = 64
# The label that marks a project as made by this sandbox: a retry that finds a project
# with its own id and this label carries on; one without it belongs to someone else.
OWNER_LABEL = "sandbox-id"

_SUFFIXED = re.compile(r"^(?P<handle>.*)-(?P<suffix>[0-9a-f]{8})$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def project_id_for(name: str) -> str:
    """The GCP project id for a sandbox name; the same name always gives the same id.

    Rule: lowercase; every run of characters outside [a-z0-9] becomes one hyphen;
    restricted strings are removed (repeatedly, so "goognullle" cannot rebuild
    "google"); leading hyphens and trailing hyphens go; a leading digit gets a "u"
    in front. A name ending in the core's "-<8 hex>" suffix keeps that suffix whole
    (it is what makes the id unique) and only its handle part is shortened to fit 30.
    Raises a non-retryable ProviderError when nothing usable is left.
    """
    text = name.strip().lower()
    match = _SUFFIXED.match(text)
    handle, suffix = (match["handle"], match["suffix"]) if match else (text, "")
    room = PROJECT_ID_MAX - (len(suffix) + 1 if suffix else 0)
    base = _clean_id_part(handle)[:room].strip("-")
    if not base:
        raise ProviderError(
            f"cannot make a GCP project id from sandbox name {name!r}: nothing usable is "
            "left after GCP's rules (lowercase letters, digits, hyphens; no google, null, "
            "undefined, ssl); use a handle with at least one letter or digit",
            code="INVALID_PROJECT_ID",
        )
    project_id = f"{base}-{suffix}" if suffix else base
    if not valid_project_id(project_id):
        raise ProviderError(
            f"cannot make a GCP project id from sandbox name {name!r}: {project_id!r} "
            f"breaks GCP's rules ({PROJECT_ID_MIN}-{PROJECT_ID_MAX} characters, a letter "
            "first, lowercase letters, digits and hyphens, no trailing hyphen)",
            code="INVALID_PROJECT_ID",
        )
    return project_id


def _clean_id_part(text: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", text)
    previous = None
    while previous != text:
        previous = text
        for word in RESTRICTED:
            text = text.replace(word, "")
        text = re.sub(r"-{2,}", "-", text)
    text = text.strip("-")
    if text[:1].isdigit():
        text = "u" + text
    return text


def display_name_for(name: str, project_id: str) -> str:
    """A project display name: 4-30 of letters, digits, hyphens, quotes, spaces and "!"."""
    text = re.sub(r"[^A-Za-z0-9'\" !-]", "-", name.strip())[:30].strip()
    return text if len(text) >= 4 else project_id


def valid_project_id(project_id: str) -> bool:
    return bool(_PROJECT_ID.match(project_id)) and not any(w in project_id for w in RESTRICTED)


def label_key(key: str) -> str:
    """A tag key as a GCP label key: lowercase, "@" → "_at_", anything else → "-".

    A key that does not start with a letter gets "k-" in front; an over-long one is
    shortened like a value (see `label_value`).
    """
    text = _clean_label_text(key)
    if not text[:1].isalpha():
        text = "k-" + text
    return _fit(text, key)


def label_value(value: str) -> str:
    """A tag value as a GCP label value, still readable by a person.

    - An ISO 8601 timestamp becomes UTC in the form 2026-12-05t09-00-00z
      (a date alone stays 2026-12-05).
    - Otherwise: lowercase, "@" → "_at_", every character outside [a-z0-9_-] → "-",
      so alice.smith@example.com → alice-smith_at_example-com.
    - Over 63 characters: the first 54 characters, "-", then the first 8 hex digits of
      the SHA-256 of the original value. Deterministic (drift checks compare equal) and
      two long values that share a prefix stay distinct. We truncate rather than fail
      because the long values we see are owners' e-mail addresses, which a user cannot
      change; an error would lock them out of GCP sandboxes.
    """
    stamp = _timestamp_label(value)
    if stamp is not None:
        return stamp
    return _fit(_clean_label_text(value), value)


def sanitize_labels(tags: dict[str, str]) -> dict[str, str]:
    """Cost tags → GCP labels. Raises a non-retryable ProviderError when two tags would
    become the same label key or there are more than GCP's 64 labels."""
    labels: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in tags.items():
        new_key = label_key(key)
        if new_key in labels:
            raise ProviderError(
                f"tags {origin[new_key]!r} and {key!r} both become GCP label {new_key!r}; "
                "rename one of them in the template",
                code="INVALID_LABELS",
            )
        labels[new_key] = label_value(str(value))
        origin[new_key] = key
    if len(labels) > LABEL_MAX_COUNT:
        raise ProviderError(
            f"{len(labels)} tags but GCP allows at most {LABEL_MAX_COUNT} labels per project; "
            "remove some from the template",
            code="INVALID_LABELS",
        )
    return labels


def fit_labels(current: dict[str, str], ours: dict[str, str],
               keep: tuple[str, ...] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """`current` with `ours` set on top, within GCP's 64 labels: when the labels someone
    else added leave ours no room, theirs go (the last in key order first, so the same
    labels give the same result), except the keys in `keep`. Returns (labels, dropped:
    key → the value it had). `ours` must already fit (sanitize_labels checked it)."""
    labels = {**current, **ours}
    excess = len(labels) - LABEL_MAX_COUNT
    if excess <= 0:
        return labels, {}
    theirs = sorted(key for key in current if key not in ours and key not in keep)
    if excess > len(theirs):
        raise ProviderError(
            f"{len(ours)} cost labels and {len(current) - len(theirs)} kept ones exceed GCP's "
            f"{LABEL_MAX_COUNT} labels per project; remove some tags from the template",
            code="INVALID_LABELS")
    dropped = {key: current[key] for key in theirs[-excess:]}
    return {key: value for key, value in labels.items() if key not in dropped}, dropped


def valid_label(key: str, value: str) -> bool:
    return bool(_LABEL_KEY.match(key)) and bool(_LABEL_VALUE.match(value))


def _clean_label_text(text: str) -> str:
    text = text.strip().lower().replace("@", "_at_")
    return re.sub(r"[^a-z0-9_-]", "-", text)


def _fit(text: str, original: str) -> str:
    if len(text) <= LABEL_MAX_LENGTH:
        return text
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:8]
    return f"{text[:LABEL_MAX_LENGTH - 9]}-{digest}"


def _timestamp_label(value: str) -> str | None:
    text = value.strip()
    if not _ISO_TIMESTAMP.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(text) == 10:
        return text  # a date alone is already a valid label value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dt%H-%M-%S") + ("z" if moment.tzinfo else "")
