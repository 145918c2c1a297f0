"""Names and e-mail addresses from anyone: the acting user (SANDBOX_USER), --member, and
the names derived from them. Each is accepted as a clean value or refused in one line."""

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from sandbox.providers.gcp.naming import project_id_for, valid_project_id
from sandbox.errors import UsageError
from sandbox.naming import check_email, handle_of, sandbox_name
from sandbox.output import one_line
from tests.hostile.conftest import fuzz

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)
HOSTILE_LOCAL = st.text(st.sampled_from("aZ09._%+'-@ \"<>;$`\\/()*&|!#\n\t\u202eé"), min_size=1, max_size=70)
DOMAINS = st.sampled_from(["example.com", "EXAMPLE.com", "ex-ample.co.uk", "example", "exa mple.com",
                           "example.com.", "-.com", "example.com<script>", "x" * 250 + ".com"])
EMAILS = st.one_of(st.emails(), TEXT, st.builds(lambda local, domain: f"{local}@{domain}", HOSTILE_LOCAL, DOMAINS))
# Addresses the random ones seldom are: runs of punctuation inside the local part, a cut
# that lands on a hyphen, a handle longer than 20.
AWKWARD = ["Mary.O'Brien--Smith@example.com", "a..b@example.com", "a" * 19 + ".b@example.com",
           "x" * 30 + "@example.com", "%%1%%@example.com", "-.-@example.com"]


def awkward(argument: str, values: list[str]):
    """Each of `values` tried first, as an explicit hypothesis example."""
    def apply(test):
        for value in values:
            test = example(**{argument: value})(test)
        return test
    return apply


NAME = re.compile(r"^(?=[a-z0-9-]{1,20}-[0-9a-f]{8}$)[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}$")


def expected_handle(email: str) -> str:
    """The rule, written out: the local part's runs of lowercase letters and digits joined
    by single hyphens, cut to 20 characters, never ending in a hyphen."""
    runs = re.findall(r"[a-z0-9]+", email.split("@", 1)[0].lower())
    return "-".join(runs)[:20].rstrip("-")


@fuzz(300)
@given(email=EMAILS)
@awkward("email", AWKWARD)
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
    assert handle_of(cleaned) == name[:-9] == expected_handle(cleaned)
    assert valid_project_id(project_id_for(name))


@fuzz(60)
@given(user=EMAILS)
@awkward("user", AWKWARD)
def test_any_acting_user_requests_cleanly_or_is_refused_in_one_line(runner, user):
    acting = (user or "alice@example.com").strip().lower()  # SANDBOX_USER, else [identity] email
    if len(acting) > 254 or any(ch.isspace() or not ch.isprintable() for ch in acting):
        expected = "error: the acting user "  # not even an identity
    else:
        try:
            owner = check_email(acting)
        except UsageError:
            owner, expected = None, one_line(f"error: you are {acting!r} here, which is not an e-mail address like "
                                             f"alice@example.com: set [identity] email in {runner.config}, or SANDBOX_USER")
        if owner is not None:
            try:
                expected = handle_of(owner)
            except UsageError as exc:  # no letters or digits before the @ to name a sandbox after
                expected = f"error: {one_line(exc)}"
            else:
                assert expected == expected_handle(owner)

    result = runner.attempt("request", "gcp-individual", "-o", "json", user=user)

    if expected.startswith("error: "):
        assert result.returncode == 2 and result.stderr.strip().startswith(expected), (expected, result.stderr)
        if expected != "error: the acting user ":
            assert result.stderr.strip() == expected
        return
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    # The name round-trips exactly: the handle the rules make, the id, and nothing else.
    assert (view["owner"], view["name"]) == (owner, f"{expected}-{view['id']}") and NAME.match(view["name"])
    shown = runner.json("show", view["id"], user=user)
    assert (shown["owner"], shown["name"], shown["members"]) == (owner, view["name"],
                                                                  [{"email": owner, "role": "owner"}])
    runner("destroy", view["id"], "--yes", user=user, check=True)


@fuzz(60)
@given(members=st.lists(EMAILS, min_size=1, max_size=3))
def test_any_member_list_is_accepted_cleanly_or_refused_in_one_line(runner, members):
    refusal = None
    for member in members:  # the first one that is no e-mail address is the one named
        try:
            check_email(member)
        except UsageError as exc:
            refusal = f"error: {one_line(exc)}"
            break
    args = [arg for member in members for arg in ("--member", member)]

    result = runner.attempt("request", "gcp-group", *args, "-o", "json")

    if refusal is not None:
        assert (result.returncode, result.stderr.strip()) == (2, refusal)
        return
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    shown = runner.json("show", view["id"])["members"]
    others = {check_email(m) for m in members} - {"alice@example.com"}
    # Each once, cleaned, with its role (show lists them in no particular order).
    assert sorted((m["email"], m["role"]) for m in shown) == sorted(
        [("alice@example.com", "owner")] + [(m, "member") for m in others])
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
