"""Random template files: `sandbox templates validate FILE` accepts or refuses each in one
line; a template it accepts can then be shown and requested without an internal error."""

import json
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from tests.cli.conftest import write_config
from tests.hostile.conftest import Runner, fuzz
from tests.hostile.tomltext import TEXT, TOMLISH, VALUES, dumps

import pytest

DURATIONS = st.one_of(st.sampled_from(["1h", "7d", "30d", "3650d", "3651d", "0s", "1d12h", "2w"]), TEXT, VALUES)


def maybe(strategy, odds: int = 15):
    """Valid-looking odds times in odds + 1, else of any type (optional fields may be missing)."""
    return st.sampled_from(range(odds + 1)).flatmap(lambda n: strategy if n < odds else VALUES)


THRESHOLD = st.fixed_dictionaries({}, optional={
    "percent": maybe(st.integers(-5, 2000)), "action": maybe(st.sampled_from(["notify", "freeze", "delete"])),
})
AWS = st.fixed_dictionaries({}, optional={
    "console_login": maybe(st.booleans()), "access_keys": maybe(st.booleans()),
    "policies": maybe(st.lists(st.sampled_from(["arn:aws:iam::aws:policy/ReadOnlyAccess",
                                                "arn:aws:iam::123456789012:policy/x", "arn:aws:s3:::b", ""]),
                               max_size=3)),
})
GCP = st.fixed_dictionaries({}, optional={
    "roles": maybe(st.lists(st.sampled_from(["roles/owner", "roles/editor", "roles/$(id)", "owner"]), max_size=3)),
    "member_roles": maybe(st.lists(st.sampled_from(["roles/viewer", "projects/p-1/roles/x", "x"]), max_size=3)),
    "services": maybe(st.lists(st.sampled_from(["compute.googleapis.com", "evil.example.com", ""]), max_size=3)),
})
TEMPLATE = st.fixed_dictionaries({"provider": maybe(st.sampled_from(["aws", "gcp", "gcp", "aws", "azure"]))}, optional={
    "kind": maybe(st.sampled_from(["individual", "group", "individual", "group", "crowd"])),
    "description": maybe(TEXT),
    "default_ttl": maybe(DURATIONS), "max_ttl": maybe(DURATIONS), "grace_period": maybe(DURATIONS),
    "max_extensions": maybe(st.integers(-3, 10**20)), "max_live": maybe(st.integers(-3, 10**20)),
    "approval_required": maybe(st.booleans()),
    "budget": maybe(st.fixed_dictionaries({
        "amount_usd": maybe(st.one_of(st.integers(-10, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                                      st.sampled_from([float("nan"), float("inf"), 1e30, 99999999999, 0.01]))),
    }, optional={"thresholds": maybe(st.lists(THRESHOLD, max_size=3))})),
    "tags": maybe(st.dictionaries(st.one_of(st.sampled_from(["cost-center", "env", "1bad", "a" * 70]), TEXT),
                                  st.one_of(TEXT, st.text(max_size=300)), max_size=3)),
}).flatmap(lambda d: st.fixed_dictionaries({
    # The provider's own section mostly; now and then the other one or a stray field.
    "spec": st.sampled_from(["own"] * 8 + ["other", "none"]),
    "aws": maybe(AWS), "gcp": maybe(GCP),
    "stray": st.sampled_from([False] * 9 + [True]),
}).map(lambda extra: _finish(d, extra)))


def _finish(template: dict, extra: dict) -> dict:
    provider = template["provider"] if template["provider"] in ("aws", "gcp") else "aws"
    section = {"own": provider, "other": "gcp" if provider == "aws" else "aws", "none": None}[extra["spec"]]
    if section:
        template = {**template, section: extra[section]}
    return {**template, "colour": "red"} if extra["stray"] else template

NAMES = st.from_regex(r"\A[a-z][a-z0-9_-]{0,20}\Z")


@pytest.fixture
def template_runner(tmp_path, db_url, runner):
    """The runner with a config whose first template directory is tmp_path/tpl."""
    (tmp_path / "tpl").mkdir()
    config = write_config(tmp_path / "tpl.toml", db_url, extra='[templates]\ndirs = ["tpl"]\n')
    return Runner(config, db_url), tmp_path / "tpl"


def _validate_then_use(template_runner, name: str, text: str):
    cli, folder = template_runner
    for old in folder.glob("*"):
        old.unlink()
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = cli.attempt("templates", "validate", str(path))
    if result.returncode != 0:
        assert str(path) in result.stderr  # the refusal names the file
        return
    # Accepted: it is TOML, and what validate, show and list say of it is what it holds.
    data = tomllib.loads(text)
    provider, kind = data["provider"], data.get("kind", "individual")
    assert result.stdout == f"ok: {path} ({provider}, {kind})\n"
    shown = cli.attempt("templates", "show", name)
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split("\t", 1) for line in shown.stdout.splitlines())
    assert (fields["name"], fields["provider"], fields["kind"], fields["path"]) == (name, provider, kind, str(path))
    listed = cli.attempt("templates", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()].count([name, provider, kind]) == 1
    requested = cli.attempt("request", name, "-o", "json")
    if requested.returncode == 0:
        view = json.loads(requested.stdout)
        assert (view["template"], view["provider"], view["state"], view["owner"]) == (
            name, provider, "requested", "alice@example.com")
        cli("destroy", view["id"], "--yes", check=True)


@fuzz(100)
@given(name=NAMES, template=TEMPLATE)
def test_random_template_fields_validate_or_fail_in_one_line(template_runner, name, template):
    _validate_then_use(template_runner, name, dumps(template))


@fuzz(60)
@given(name=NAMES, text=TOMLISH)
def test_random_toml_text_validates_or_fails_in_one_line(template_runner, name, text):
    _validate_then_use(template_runner, name, text)


@fuzz(30)
@given(data=st.binary(max_size=60))
def test_a_template_that_is_not_text_fails_in_one_line(template_runner, data):
    cli, folder = template_runner
    path = folder / "binary.toml"
    path.write_bytes(data)
    result = cli.attempt("templates", "validate", str(path))
    # At most 60 random bytes never spell a provider: refused, naming the file.
    assert result.returncode == 2 and str(path) in result.stderr, result.stderr
