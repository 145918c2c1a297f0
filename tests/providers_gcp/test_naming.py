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


# ---- pinned by mutation testing (scripts/mutation.py, issue 16) --------------------------

import hashlib  # noqa: E402
import time  # noqa: E402

from sandbox.providers.gcp.naming import fit_labels  # noqa: E402


def test_a_name_without_suffix_may_use_all_30_characters():
    assert project_id_for("a" * 35) == "a" * 30
    assert project_id_for("b" * 30) == "b" * 30


@pytest.mark.parametrize("name, expected", [
    ("alpha-google-beta", "alpha-beta"),  # the hyphens around a removed word become one
    ("null-42team", "u42team"),  # hyphens left in front by a removal go before the digit check
    ("7eleven-1a2b3c4d", "u7eleven-1a2b3c4d"),  # one leading digit is enough for the "u"
])
def test_removing_restricted_words_leaves_a_clean_id(name, expected):
    assert project_id_for(name) == expected


def test_project_id_errors_carry_their_code_and_full_explanation():
    with pytest.raises(ProviderError) as nothing:
        project_id_for("google-1a2b3c4d")
    with pytest.raises(ProviderError) as invalid:
        project_id_for("bob")

    assert nothing.value.code == "INVALID_PROJECT_ID" and invalid.value.code == "INVALID_PROJECT_ID"
    assert str(nothing.value) == (
        "cannot make a GCP project id from sandbox name 'google-1a2b3c4d': nothing usable is "
        "left after GCP's rules (lowercase letters, digits, hyphens; no google, null, "
        "undefined, ssl); use a handle with at least one letter or digit")
    assert str(invalid.value) == (
        "cannot make a GCP project id from sandbox name 'bob': 'bob' breaks GCP's rules "
        "(6-30 characters, a letter first, lowercase letters, digits and hyphens, no trailing hyphen)")


def test_display_name_keeps_capitals_and_allows_4_to_30_characters():
    assert display_name_for("Alice's Team!", "pid-1") == "Alice's Team!"
    assert display_name_for("abcd", "pid-1") == "abcd"
    assert display_name_for("abc", "pid-1") == "pid-1"
    assert display_name_for("X" * 40, "pid-1") == "X" * 30


def test_label_key_keeps_a_key_that_starts_with_one_letter_and_shortens_long_ones():
    assert label_key("a1") == "a1"
    long_key = "k" * 70
    digest = hashlib.sha256(long_key.encode("utf-8")).hexdigest()[:8]
    assert label_key(long_key) == "k" * 54 + "-" + digest


def test_valid_label_needs_both_key_and_value_valid():
    assert valid_label("ok", "fine")
    assert not valid_label("Bad", "fine")
    assert not valid_label("ok", "Bad")


def test_label_errors_carry_their_code_and_name_both_tags():
    with pytest.raises(ProviderError) as clash:
        sanitize_labels({"cost-center": "a", "Cost.Center": "b"})
    with pytest.raises(ProviderError) as many:
        sanitize_labels({f"k{i}": "v" for i in range(65)})

    assert clash.value.code == "INVALID_LABELS" and many.value.code == "INVALID_LABELS"
    assert str(clash.value) == ("tags 'cost-center' and 'Cost.Center' both become GCP label "
                                "'cost-center'; rename one of them in the template")
    assert str(many.value) == ("65 tags but GCP allows at most 64 labels per project; "
                               "remove some from the template")


def test_exactly_64_labels_are_allowed():
    assert len(sanitize_labels({f"k{i}": "v" for i in range(64)})) == 64


def test_a_timestamp_without_zone_gets_no_z_and_a_zoned_one_does_not_depend_on_the_machine(monkeypatch):
    assert label_value("2026-12-05T09:00:00") == "2026-12-05t09-00-00"
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert label_value("2026-12-05T10:30:00+01:00") == "2026-12-05t09-30-00z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_fit_labels_leaves_labels_that_fit_alone():
    current = {"team": "a", "sandbox-id": "x"}

    assert fit_labels(current, {"owner": "b"}) == ({"team": "a", "sandbox-id": "x", "owner": "b"}, {})
    full = {f"k{i:02}": "v" for i in range(63)}
    assert fit_labels(full, {"owner": "b"}) == ({**full, "owner": "b"}, {})


def test_fit_labels_drops_the_last_of_theirs_in_key_order_but_keeps_the_kept_ones():
    current = {f"k{i:02}": str(i) for i in range(64)}
    ours = {"owner": "b", "k03": "ours"}

    labels, dropped = fit_labels(current, ours, keep=("k63",))

    assert dropped == {"k62": "62"}
    assert labels == {**{k: v for k, v in current.items() if k != "k62"}, **ours}
    assert len(labels) == 64


def test_fit_labels_refuses_when_kept_and_ours_alone_exceed_64():
    current = {f"k{i:02}": "v" for i in range(10)}
    ours = {f"o{i:02}": "v" for i in range(60)}

    with pytest.raises(ProviderError) as caught:
        fit_labels(current, ours, keep=tuple(f"k{i:02}" for i in range(5)))

    assert caught.value.code == "INVALID_LABELS"
    assert str(caught.value) == ("60 cost labels and 5 kept ones exceed GCP's 64 labels per project; "
                                 "remove some tags from the template")
    assert fit_labels(current, ours, keep=tuple(f"k{i:02}" for i in range(4)))[1] == {
        f"k{i:02}": "v" for i in range(4, 10)}
