"""GCP naming rules, checked the way Google checks them on create and update."""

from __future__ import annotations

import re
import unicodedata

from .errors import bad_request

# https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin
# 6-30 chars, lowercase ASCII letters, digits and hyphens, starts with a letter,
# no trailing hyphen.
PROJECT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# "Can't contain restricted strings such as google, null, undefined and ssl."
RESTRICTED_PROJECT_ID_WORDS = ("google", "null", "undefined", "ssl")
# Project numbers are what a v3 name carries: projects/415104041262.
PROJECT_NUMBER_PATTERN = re.compile(r"^[0-9]+$")
# v3 Project.displayName: 4-30 letters, digits, hyphen, quotes, space, "!".
PROJECT_DISPLAY_NAME_PATTERN = re.compile(r"""^[A-Za-z0-9'" !-]{4,30}$""")
# v3 Folder.displayName: [\p{L}\p{N}]([\p{L}\p{N}_- ]{0,28}[\p{L}\p{N}])?
FOLDER_DISPLAY_NAME_MAX = 30
PARENT_PATTERN = re.compile(r"^(organizations|folders)/([0-9]+)$")
# https://cloud.google.com/billing/docs/reference/rest/v1/projects/updateBillingInfo
BILLING_ACCOUNT_PATTERN = re.compile(r"^billingAccounts/[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")

# https://cloud.google.com/resource-manager/docs/labels-overview#requirements
MAX_LABELS = 64
MAX_LABEL_LENGTH = 63


def check_project_id(project_id: str) -> None:
    if not project_id:
        raise bad_request("project_id", "Project id is required.")
    if not PROJECT_ID_PATTERN.match(project_id):
        raise bad_request(
            "project_id",
            f"Project id {project_id!r} must be 6 to 30 lowercase ASCII letters, digits "
            "or hyphens, start with a letter and not end with a hyphen.",
        )
    for word in RESTRICTED_PROJECT_ID_WORDS:
        if word in project_id:
            raise bad_request("project_id", f"Project id {project_id!r} contains the restricted string {word!r}.")


def check_project_display_name(display_name: str) -> None:
    # Optional: "When present it must be between 4 to 30 characters."
    if display_name and not PROJECT_DISPLAY_NAME_PATTERN.match(display_name):
        raise bad_request(
            "display_name",
            "Display name must be 4 to 30 letters, digits, hyphens, quotes, spaces or exclamation points.",
        )


def _is_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in ("L", "N")


def check_folder_display_name(display_name: str) -> None:
    ok = (
        0 < len(display_name) <= FOLDER_DISPLAY_NAME_MAX
        and _is_letter_or_digit(display_name[0])
        and _is_letter_or_digit(display_name[-1])
        and all(_is_letter_or_digit(c) or c in "_- " for c in display_name)
    )
    if not ok:
        raise bad_request(
            "display_name",
            "Folder display name must be 1 to 30 letters, digits, spaces, hyphens or "
            "underscores, starting and ending with a letter or digit.",
        )


def _is_label_letter(char: str) -> bool:
    # "Lowercase letters ... International characters are allowed": a lowercase
    # letter (Ll) or a letter of a script without case (Lo, e.g. CJK).
    return unicodedata.category(char) in ("Ll", "Lo")


def _is_label_char(char: str) -> bool:
    return _is_label_letter(char) or unicodedata.category(char) == "Nd" or char in "_-"


def check_labels(labels: dict) -> None:
    """Apply the labels-overview rule (it is looser than the v3 reference's regex:
    underscores and international lowercase letters are accepted in practice)."""
    if not isinstance(labels, dict):
        raise bad_request("labels", "Labels must be a map of strings.")
    if len(labels) > MAX_LABELS:
        raise bad_request("labels", f"A resource can have at most {MAX_LABELS} labels, got {len(labels)}.")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise bad_request(f"labels[{key}]", "Label values must be strings.")
        if not (0 < len(key) <= MAX_LABEL_LENGTH and _is_label_letter(key[0]) and all(map(_is_label_char, key))):
            raise bad_request(
                f"labels[{key}]",
                f"Label key {key!r} must be 1-63 lowercase letters, digits, underscores or "
                "dashes and start with a lowercase letter.",
            )
        if not (len(value) <= MAX_LABEL_LENGTH and all(map(_is_label_char, value))):
            raise bad_request(
                f"labels[{key}]",
                f"Label value {value!r} must be 0-63 lowercase letters, digits, underscores or dashes.",
            )


def check_parent_format(parent: str, field: str = "parent") -> tuple[str, str]:
    """Split organizations/N or folders/N; anything else is INVALID_ARGUMENT."""
    match = PARENT_PATTERN.match(parent or "")
    if not match:
        raise bad_request(field, f"Parent {parent!r} must be of the form organizations/{{id}} or folders/{{id}}.")
    return match.group(1), match.group(2)


def check_billing_account_name(name: str) -> None:
    if not BILLING_ACCOUNT_PATTERN.match(name):
        raise bad_request(
            "billing_account_name",
            f"Billing account name {name!r} must look like billingAccounts/012345-567890-ABCDEF.",
        )
