"""Unit tests of the pure naming functions: project ids and labels."""

import pytest

from sandbox.providers.gcp.naming import (LABEL_MAX_LENGTH, display_name_for, label_key, label_value,
                                  project_id_for, sanitize_labels, valid_label,
                                  valid_project_id)
from sandbox.errors import ProviderError


@pytest.mark.parametrize("name, expected", [
    ("alice-1a2b3c4d", "alice-1a2b3c4d"),
    ("Alice.Smith-1a2b3c4d", "alice-smith-1a2b3c4d"),
    ("bob+test_x-0badcafe", "bob-test-x-0badcafe"),
    ("42-1a2b3c4d", "u42-1a2b3c4d"),  # a letter must come first
    ("googler-1a2b3c4d", "r-1a2b3c4d"),  # restricted strings are removed
    ("xgoognullley-deadbeef", "xy-deadbeef"),  # ...even when removing one rebuilds another
    ("ssl-null-admin-1a2b3c4d", "admin-1a2b3c4d"),
    ("a" * 40 + "-1a2b3c4d", "a" * 21 + "-1a2b3c4d"),  # handle shortened, suffix kept
    ("my-team-project", "my-team-project"),  # no suffix: sanitised as a whole
])
def test_project_id_for_follows_gcp_rules(name, expected):
    project_id = project_id_for(name)

    assert project_id == expected
    assert valid_project_id(project_id)


def test_project_id_is_deterministic_and_keeps_the_unique_suffix():
    long_handle = "firstname.middlename.lastname"

    first = project_id_for(f"{long_handle}-00000001")
    second = project_id_for(f"{long_handle}-00000002")

    assert first == project_id_for(f"{long_handle}-00000001")
    assert first != second
    assert len(first) <= 30 and first.endswith("-00000001")


def test_truncation_never_leaves_a_trailing_hyphen():
    project_id = project_id_for("abcdefghijklmnopqrst-uvwxyz-1a2b3c4d")  # cut lands on "-"

    assert project_id == "abcdefghijklmnopqrst-1a2b3c4d"


@pytest.mark.parametrize("name", ["___-1a2b3c4d", "google-1a2b3c4d", "null.ssl-1a2b3c4d", "---"])
def test_a_name_with_nothing_usable_is_a_clear_non_retryable_error(name):
    with pytest.raises(ProviderError) as caught:
        project_id_for(name)

    assert not caught.value.retryable
    assert repr(name) in str(caught.value) and "nothing usable" in str(caught.value)


def test_a_too_short_name_without_suffix_is_an_error():
    with pytest.raises(ProviderError, match="6-30 characters"):
        project_id_for("bob")


def test_display_name_replaces_characters_gcp_refuses():
    assert display_name_for("alice.smith-1a2b3c4d", "x") == "alice-smith-1a2b3c4d"
    assert display_name_for("ab", "fallback-id") == "fallback-id"


@pytest.mark.parametrize("value, expected", [
    ("alice.smith@example.com", "alice-smith_at_example-com"),
    ("2026-12-05T09:00:00+00:00", "2026-12-05t09-00-00z"),
    ("2026-12-05T10:30:00+01:00", "2026-12-05t09-30-00z"),  # shown in UTC
    ("2026-12-05T09:00:00Z", "2026-12-05t09-00-00z"),
    ("2026-12-05T09:00Z", "2026-12-05t09-00-00z"),  # the core's sandbox-expires format
    ("2026-12-05", "2026-12-05"),
    ("Sandbox Teams", "sandbox-teams"),
    ("", ""),
])
def test_label_value_stays_readable(value, expected):
    assert label_value(value) == expected


@pytest.mark.parametrize("key, expected", [
    ("cost-center", "cost-center"),
    ("Cost.Center", "cost-center"),
    ("aws:createdBy", "aws-createdby"),
    ("1st", "k-1st"),
])
def test_label_key_follows_gcp_rules(key, expected):
    assert label_key(key) == expected
    assert valid_label(label_key(key), "")


def test_an_over_long_value_is_truncated_deterministically_and_stays_distinct():
    # Decision: truncate (with a hash suffix) rather than fail. Long values are mostly
    # owners' e-mail addresses, which users cannot change.
    first = "a" * 70 + "@example.com"
    second = "a" * 70 + "@example.org"

    one, two = label_value(first), label_value(second)

    assert len(one) == LABEL_MAX_LENGTH and valid_label("k", one)
    assert one == label_value(first)
    assert one != two
    assert one.startswith("a" * 54 + "-")


def test_sanitize_labels_is_idempotent_and_valid():
    tags = {"Owner": "Alice.Smith@Example.com", "expires-at": "2026-12-05T09:00:00+00:00",
            "note": "x" * 200}

    labels = sanitize_labels(tags)

    assert all(valid_label(k, v) for k, v in labels.items())
    assert sanitize_labels(labels) == labels
    assert labels["owner"] == "alice-smith_at_example-com"


def test_two_tags_that_become_one_label_are_an_error():
    with pytest.raises(ProviderError, match="both become GCP label 'cost-center'") as caught:
        sanitize_labels({"cost-center": "a", "Cost.Center": "b"})

    assert not caught.value.retryable


def test_more_than_64_labels_is_an_error():
    with pytest.raises(ProviderError, match="at most 64 labels"):
        sanitize_labels({f"k{i}": "v" for i in range(65)})
