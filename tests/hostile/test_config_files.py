"""Random config files: a working config with random keys set, replaced or removed (and
random TOML-ish text), then any command. Each ends in success or one line on stderr, and
a failing one leaves the database as it was."""

import tomllib
from dataclasses import fields, is_dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.config import Settings
from tests.hostile.conftest import fuzz
from tests.hostile.tomltext import TEXT, TOMLISH, VALUES, dumps

SECTIONS = {f.name: [g.name for g in fields(getattr(Settings(), f.name))] for f in fields(Settings)
            if is_dataclass(getattr(Settings(), f.name))}
PLAUSIBLE = st.one_of(
    VALUES, TEXT, st.text(max_size=300),
    st.sampled_from(["", "sqlite:///relative.db", "sqlite:////no/such/dir/x.db", "garbage", "mysql://x/y",
                     "postgresql+psycopg://nobody@127.0.0.1:9/none", "\u0000", "a\u0000b", "30s", "0s", "-5m",
                     "/sandbox/" + "x" * 300, "folders/123", "folders/abc", "organizations/x",
                     "aws+{name}@example.com", "{0}", "{name.__class__}", "{}", "x" * 300, "~/nothing"]),
    st.lists(st.sampled_from(["admin@example.com", "3d", "", "x" * 300]), max_size=3),
)
MUTATION = st.one_of(
    # (section, key, value): set a known key of a known section
    st.sampled_from(sorted(SECTIONS)).flatmap(
        lambda s: st.tuples(st.just(s), st.sampled_from(SECTIONS[s] or ["x"]), PLAUSIBLE)),
    # unknown sections and keys, and removals (value None)
    st.tuples(st.one_of(st.sampled_from(sorted(SECTIONS)), TEXT), TEXT, st.one_of(PLAUSIBLE, st.none())),
    st.tuples(st.sampled_from(sorted(SECTIONS)), st.sampled_from(["url", "key", "email", "endpoint_url"]), st.none()),
    # a department: its name, OU and folder (the acting user belongs to it)
    st.tuples(st.just("departments"), st.one_of(st.just("engineering"), TEXT, st.just("d" * 100)),
              st.fixed_dictionaries({}, optional={"aws_ou": PLAUSIBLE, "gcp_folder": PLAUSIBLE})),
)
COMMANDS = st.sampled_from([
    ("list",), ("list", "--all"), ("templates", "list"), ("templates", "show", "aws-group"), ("templates", "validate"),
    ("request", "gcp-individual"), ("request", "aws-individual"), ("request", "gcp-group", "--member", "b@example.com"),
    ("show", "ffffffff"), ("report", "usage"), ("report", "expiring", "-"), ("admin", "approve", "ffffffff"),
    ("admin", "rotate-key"), ("db", "upgrade"),
])
USERS = st.sampled_from(["alice@example.com", "admin@example.com"])
LIST_HEADER = "id\tname\tprovider\ttemplate\towner\tstate\tcloud_id\texpires_at"
BUILTIN = {"aws-group", "aws-individual", "gcp-group", "gcp-individual"}
NEVER_SUCCEED = {("show", "ffffffff"), ("admin", "approve", "ffffffff"), ("report", "expiring", "-"),
                 ("admin", "rotate-key")}  # no such sandbox; an extra argument; no new key given


def check_success(command: tuple[str, ...], user: str, stdout: str, config) -> None:
    """What each command prints when it succeeds, whatever else the config says (piped: tabs)."""
    from sandbox.config import load_settings

    assert command not in NEVER_SUCCEED, stdout
    enabled = load_settings(str(config)).clouds  # a cloud is on when its table is in the config
    offered = {name for name in BUILTIN if name.split("-")[0] in enabled}
    lines = stdout.splitlines()
    fields = dict(line.split("\t", 1) for line in lines if "\t" in line)
    if command[0] == "request":
        assert (fields["template"], fields["state"], fields["owner"]) == (command[1], "requested", user), stdout
        assert fields["name"].endswith("-" + fields["id"])
    elif command[0] == "list":
        assert lines[0] == LIST_HEADER, stdout
    elif command == ("templates", "list"):
        assert lines[0].startswith("name\tprovider\tkind\t") and offered <= {line.split("\t")[0] for line in lines[1:]}
    elif command == ("templates", "show", "aws-group"):
        assert lines[0] == "name\taws-group" and fields["provider"] == "aws", stdout
    elif command == ("templates", "validate"):
        assert lines and all(line.startswith("ok: ") for line in lines), stdout
    elif command == ("report", "usage"):
        assert lines[0].startswith("section\tgroup\trequests\t"), stdout
    elif command == ("db", "upgrade"):
        assert lines[0].startswith("database at revision "), stdout
    else:
        raise AssertionError(f"no expectation for {command}")


@pytest.fixture
def base_config(runner):
    return tomllib.loads(runner.config.read_text())


def mutate(base: dict, mutations) -> dict:
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, key, value in mutations:
        if section == "departments":
            config["departments"] = {key: value}
            config.setdefault("identity", {})["department"] = key
            continue
        table = config.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return config


@fuzz(100)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), command=COMMANDS, user=USERS)
def test_random_config_values_end_in_success_or_one_line(runner, base_config, tmp_path, mutations, command, user):
    path = tmp_path / "random.toml"
    path.write_text(dumps(mutate(base_config, mutations)), encoding="utf-8")
    result = runner.attempt(*command, user=user, config=path)
    if result.returncode == 0:
        check_success(command, user, result.stdout, path)


@fuzz(50)
@given(text=TOMLISH, command=COMMANDS)
def test_random_config_text_ends_in_success_or_one_line(runner, tmp_path, text, command):
    path = tmp_path / "random.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.attempt(*command, config=path)
    if result.returncode == 0:
        check_success(command, "alice@example.com", result.stdout, path)


@fuzz(20)
@given(data=st.binary(max_size=60))
def test_a_config_that_is_not_text_fails_in_one_line(runner, tmp_path, data):
    path = tmp_path / "random.toml"
    path.write_bytes(data)
    result = runner.attempt("list", config=path)
    if result.returncode == 0:  # bytes that happen to be valid TOML (or nothing at all)
        check_success(("list",), "alice@example.com", result.stdout, path)
