from datetime import timedelta

import pytest

from sandbox.durations import format_duration, parse_duration
from sandbox.errors import UsageError
from sandbox.naming import check_email, handle_of, sandbox_name


@pytest.mark.parametrize("text, expected", [
    ("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("1d12h", timedelta(days=1, hours=12)),
    ("2w", timedelta(weeks=2)), (" 90m ", timedelta(minutes=90)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "-1d", "0d", "7 days", "1y", "99999999d"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format_duration_round_trips():
    assert format_duration(timedelta(days=3)) == "3d" and format_duration(timedelta(hours=5)) == "5h"


def test_names_are_handle_dash_8_hex():
    assert sandbox_name("Alice.Smith@Example.com", "0a1b2c3d") == "alice-smith-0a1b2c3d"
    assert len(handle_of("a" * 60 + "@x.io")) == 20


@pytest.mark.parametrize("email", ["nobody", "a@b", "a b@c.de", "x@y.z;rm -rf", "'; drop table sandbox;--@x.io x"])
def test_bad_emails_rejected(email):
    with pytest.raises(UsageError):
        check_email(email)


def test_handle_without_letters_or_digits_is_refused():
    with pytest.raises(UsageError, match="no letters or digits"):
        handle_of("+.+@example.com")


@pytest.mark.parametrize("text", ["30mo", "1month", "2 months", "1mon", "3mth", "1mo2d"])
def test_months_are_refused_as_ambiguous_and_point_to_days(text):
    with pytest.raises(UsageError, match=r"months are ambiguous; use days, e\.g\. 30d \(m means minutes\)"):
        parse_duration(text, "--ttl")


def test_m_is_minutes():
    assert parse_duration("1m") == timedelta(minutes=1)


@pytest.mark.parametrize("left, said", [
    (timedelta(seconds=40), "40s"), (timedelta(minutes=12, seconds=3), "12m 3s"),
    (timedelta(hours=5, minutes=12), "5h 12m"), (timedelta(days=2, hours=23, minutes=57), "2d 23h"),
    (timedelta(days=3), "3d"), (timedelta(days=2, minutes=5), "2d"), (timedelta(seconds=-3), "0s"),
])
def test_time_left_reads_in_its_two_largest_units_rounded_down(left, said):
    from sandbox.durations import format_remaining

    assert format_remaining(left) == said


# ---- sandbox names, pinned by mutation testing (scripts/mutation.py, issue 16) ------------

from sandbox.naming import MAX_HANDLE, check_name  # noqa: E402


def test_a_chosen_name_replaces_the_handle_and_keeps_the_id():
    assert sandbox_name("alice@example.com", "0a1b2c3d", "Load-Test ") == "load-test-0a1b2c3d"
    assert sandbox_name("alice@example.com", "0a1b2c3d", None) == "alice-0a1b2c3d"
    assert sandbox_name("alice@example.com", "0a1b2c3d", "") == "alice-0a1b2c3d"
    with pytest.raises(UsageError, match="^--name 'bad name' must be"):
        sandbox_name("alice@example.com", "0a1b2c3d", "bad name")


@pytest.mark.parametrize("chosen, expected", [
    ("a", "a"), ("x" * MAX_HANDLE, "x" * MAX_HANDLE), (" Load-Test ", "load-test"), ("a1-b2-c3", "a1-b2-c3"),
])
def test_check_name_accepts_1_to_20_lowercase_letters_digits_and_single_hyphens(chosen, expected):
    assert check_name(chosen) == expected


@pytest.mark.parametrize("chosen", ["", "  ", "x" * (MAX_HANDLE + 1), "a--b", "-ab", "ab-", "a_b", "ünï"])
def test_check_name_refuses_anything_else_with_the_rule(chosen):
    with pytest.raises(UsageError) as caught:
        check_name(chosen)
    assert str(caught.value) == (f"--name {chosen!r} must be 1-20 lowercase letters, digits and single "
                                 "hyphens, e.g. load-test (the id is appended)")


def test_check_name_quotes_at_most_40_characters_of_a_long_name():
    with pytest.raises(UsageError) as caught:
        check_name("n" * 45)
    assert str(caught.value).startswith(f"--name {'n' * 40!r} must be")


def test_check_email_lowercases_strips_and_bounds_the_length():
    assert check_email("  Alice.Smith@Example.COM ") == "alice.smith@example.com"
    at_limit = "a" * 64 + "@" + "b" * 185 + ".com"  # 254 characters, the most allowed
    assert len(at_limit) == 254 and check_email(at_limit) == at_limit
    with pytest.raises(UsageError) as caught:
        check_email("a" * 64 + "@" + "b" * 186 + ".com")
    with pytest.raises(UsageError, match="^'' is not an e-mail"):
        check_email("")
    with pytest.raises(UsageError, match="^None is not an e-mail"):
        check_email(None)
    assert str(caught.value).endswith("is not an e-mail address like alice@example.com")


def test_the_handle_error_names_the_address():
    with pytest.raises(UsageError) as caught:
        handle_of("+.+@example.com")
    assert str(caught.value) == ("the e-mail '+.+@example.com' has no letters or digits before the @ "
                                 "to name a sandbox after")
    assert handle_of("bob@example.com") == "bob"
