"""Names and e-mail addresses from anyone: the acting user (SANDBOX_USER), --member, and
the names derived from them. Each is accepted as a clean value or refused in one line."""

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from sandbox.providers.gcp.naming import project_id_for, valid_project_id
from sandbox.errors import UsageError
from sandbox.naming import check_email, handle_of, sandbox_name
from tests.hostile.conftest import fuzz

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)
HOSTILE_LOCAL = st.text(st.sampled_from("aZ09._%+'-@ \"<>;$`\\/()*&|!#\n\t\u202eé"), min_size=1, max_size=70)
DOMAINS = st.sampled_from(["example.com", "EXAMPLE.com", "ex-ample.co.uk", "example", "exa mple.com",
                           "example.com.", "-.com", "example.com<script>", "x" * 250 + ".com"])
EMAILS = st.one_of(st.emails(), TEXT, st.builds(lambda local, domain: f"{local}@{domain}", HOSTILE_LOCAL, DOMAINS))
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?-[0-9a-f]{8}$")


@fuzz(300)
@given(email=EMAILS)
def test_an_email_is_cleaned_or_refused_and_names_built_from_it_are_safe(email):
    try:
        cleaned = check_email(email)
    except UsageError as exc:
        assert "\n" not in str(exc).strip() or "\n" in email  # the input is quoted with repr
        return
    assert cleaned == cleaned.strip().lower() and len(cleaned) <= 254
    try:
        name = sandbox_name(cleaned, "0123abcd")
    except UsageError:
        assert not re.search(r"[a-z0-9]", cleaned.split("@")[0])
        return
    assert NAME.match(name), name
    assert handle_of(cleaned) == name[:-9]
    assert valid_project_id(project_id_for(name))


@fuzz(60)
@given(user=EMAILS)
def test_any_acting_user_requests_cleanly_or_is_refused_in_one_line(runner, user):
    result = runner.attempt("request", "gcp-individual", "-o", "json", user=user)
    if result.returncode == 0:
        view = json.loads(result.stdout)
        assert view["owner"] == check_email(user or "alice@example.com") and NAME.match(view["name"])
        runner("destroy", view["id"], "--yes", user=user, check=True)


@fuzz(60)
@given(members=st.lists(EMAILS, min_size=1, max_size=3))
def test_any_member_list_is_accepted_cleanly_or_refused_in_one_line(runner, members):
    args = [arg for member in members for arg in ("--member", member)]
    result = runner.attempt("request", "gcp-group", *args, "-o", "json")
    if result.returncode == 0:
        view = json.loads(result.stdout)
        shown = {m["email"] for m in runner.json("show", view["id"])["members"]}
        assert shown == {"alice@example.com"} | {check_email(m) for m in members}
        runner("destroy", view["id"], "--yes", check=True)


@fuzz(60)
@given(user=EMAILS, command=st.sampled_from([("show",), ("events",), ("credentials",),
                                             ("extend", "--by", "1d"), ("destroy", "--yes")]))
def test_a_stranger_of_any_name_is_refused_and_audited(runner, user, command):
    """Every refusal writes a denied_access event naming the actor: however long or odd
    the name, that write must not fail (or the refusal becomes an internal error)."""
    if not hasattr(runner, "target"):
        runner.target = runner.json("request", "gcp-individual")["id"]
    if user.strip().lower() in ("", "alice@example.com", "admin@example.com"):
        return
    result = runner.attempt(command[0], runner.target, *command[1:], user=user)
    assert result.returncode == 2, result.stderr  # bad input either way
    if "the acting user" not in result.stderr:  # else not even an identity: refused before anything is read
        # To a stranger the sandbox does not exist; the attempt is audited all the same.
        assert "no sandbox with id" in result.stderr, result.stderr
