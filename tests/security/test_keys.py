"""The encryption key: a wrong or missing key gives a clear one-line error (never garbage,
never a half-made sandbox), and `sandbox admin rotate-key` moves every stored secret to a
new key in one transaction."""

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from sandbox.errors import SecretKeyError
from sandbox.secrets import Vault, generate_key
from tests.cli.conftest import Sandbox, assert_one_line_error
from tests.e2e.helpers import aws_client
from tests.security.conftest import ADMIN

KEY_LINE = re.compile(r'^key = ".*"$', re.M)


def config_with_key(config: Path, name: str, key: str | None) -> Sandbox:
    """A copy of `config` with another [secrets] key (None: no key at all)."""
    body = config.read_text()
    body = KEY_LINE.sub(f'key = "{key}"' if key is not None else "", body)
    path = config.with_name(name)
    path.write_text(body)
    return Sandbox(path)


def current_key(config: Path) -> str:
    return KEY_LINE.search(config.read_text()).group(0).split('"')[1]


def ciphertexts(database) -> list[str]:
    with database.engine.connect() as conn:
        return list(conn.execute(text("SELECT ciphertext FROM credential ORDER BY id")).scalars())


@pytest.fixture
def active(cloud_cli):
    """An active AWS sandbox of alice's: console password and access key stored."""
    view = cloud_cli.json("request", "aws-individual", "--wait")
    creds = cloud_cli.json("credentials", view["id"])
    return view["id"], creds


def test_a_wrong_key_gives_one_clear_line_never_garbage(cloud_cli, active):
    sandbox_id, creds = active
    other = config_with_key(cloud_cli.config, "other.toml", generate_key())
    result = other("credentials", sandbox_id)
    assert_one_line_error(result, "cannot decrypt a stored secret", "SANDBOX_SECRET_KEY")
    assert result.stdout == "" and result.returncode == 2
    assert creds["password"] not in result.stderr

    not_a_key = config_with_key(cloud_cli.config, "bad.toml", "not-a-fernet-key")
    assert_one_line_error(not_a_key("credentials", sandbox_id), "not a valid Fernet key")
    assert_one_line_error(not_a_key("request", "aws-individual"), "not a valid Fernet key")


def test_a_missing_key_refuses_a_request_before_anything_is_created(cloud_cli, active, database, aws_url):
    sandbox_id, _creds = active
    keyless = config_with_key(cloud_cli.config, "keyless.toml", None)
    accounts = len(aws_client(aws_url, "organizations").list_accounts()["Accounts"])
    before = database.counts()
    assert_one_line_error(keyless("request", "aws-individual", "--wait"), "no encryption key",
                          "sandbox admin generate-key")
    assert database.counts() == before
    assert len(aws_client(aws_url, "organizations").list_accounts()["Accounts"]) == accounts
    assert_one_line_error(keyless("credentials", sandbox_id), "no encryption key")
    # A key file that cannot be read says which file.
    missing = config_with_key(cloud_cli.config, "file.toml", None)
    missing.config.write_text(missing.config.read_text().replace("[secrets]", '[secrets]\nkey_file = "/nonexistent/key"'))
    assert_one_line_error(missing("credentials", sandbox_id), "cannot read secrets.key_file /nonexistent/key")


def test_a_missing_key_at_the_daemon_fails_the_sandbox_before_creating_an_account(cloud_cli, database, aws_url):
    queued = cloud_cli.json("request", "aws-individual")  # recorded by someone with the key
    keyless = config_with_key(cloud_cli.config, "keyless.toml", None)
    accounts = len(aws_client(aws_url, "organizations").list_accounts()["Accounts"])
    keyless("daemon", "--once", "--job", "provision", user="admin@example.com")
    view = cloud_cli.json("show", queued["id"])
    assert view["state"] == "failed" and "no encryption key" in view["last_error"]
    assert len(aws_client(aws_url, "organizations").list_accounts()["Accounts"]) == accounts


def test_rotate_key_moves_every_secret_to_the_new_key(cloud_cli, active, database, tmp_path, monkeypatch):
    sandbox_id, creds = active
    old_key, new_key = current_key(cloud_cli.config), generate_key()
    key_file = tmp_path / "new.key"
    key_file.write_text(new_key + "\n")
    before = ciphertexts(database)
    assert len(before) == 3  # password, access_key_id, secret_access_key

    result = cloud_cli("admin", "rotate-key", "--new-key-file", str(key_file), user=ADMIN, check=True)
    assert "re-encrypted 3 secrets of 1 sandboxes" in result.stdout
    for secret in (old_key, new_key, creds["password"], creds["secret_access_key"]):
        assert secret not in result.stdout + result.stderr
    event = database.last_event()
    assert (event["action"], event["actor"], event["detail"]) == ("rotate_key", ADMIN, {"rows": 3, "sandboxes": 1})

    after = ciphertexts(database)
    assert all(a != b for a, b in zip(after, before))
    with pytest.raises(SecretKeyError, match="cannot decrypt"):
        Vault(old_key).decrypt(after[0])
    assert {Vault(new_key).decrypt(c) for c in after} >= {creds["password"], creds["secret_access_key"]}

    # The old key no longer reads them; the new one shows the same credentials as before.
    assert_one_line_error(cloud_cli("credentials", sandbox_id), "cannot decrypt a stored secret")
    rotated = config_with_key(cloud_cli.config, "rotated.toml", new_key)
    assert rotated.json("credentials", sandbox_id) == creds
    # During a rotation, processes may run with "NEW,OLD": either key's rows read.
    both = config_with_key(cloud_cli.config, "both.toml", f"{new_key},{old_key}")
    assert both.json("credentials", sandbox_id) == creds

    # The next rotation may take its key from the environment.
    monkeypatch.setenv("SANDBOX_NEW_SECRET_KEY", generate_key())
    assert "re-encrypted 3 secrets" in rotated("admin", "rotate-key", user=ADMIN, check=True).stdout


def test_rotation_changes_nothing_unless_every_row_decrypts(cloud_cli, active, database, tmp_path, monkeypatch):
    _sandbox_id, _creds = active
    second = cloud_cli.json("request", "aws-individual", "--wait")
    assert second["state"] == "active"
    # One row stored under a key nobody configured (a botched manual fix, say).
    stray = Fernet(generate_key().encode()).encrypt(b"x").decode()
    database.execute("UPDATE credential SET ciphertext = :c WHERE id = (SELECT max(id) FROM credential)", c=stray)
    before = ciphertexts(database)
    monkeypatch.setenv("SANDBOX_NEW_SECRET_KEY", generate_key())
    result = cloud_cli("admin", "rotate-key", user=ADMIN)
    assert_one_line_error(result, "cannot decrypt a stored secret with the current key", "nothing was rotated")
    assert ciphertexts(database) == before

    # A wrong current key: the same, and nothing changes.
    wrong = config_with_key(cloud_cli.config, "wrong.toml", generate_key())
    assert_one_line_error(wrong("admin", "rotate-key", user=ADMIN), "nothing was rotated")
    assert ciphertexts(database) == before
    # A new key that is not a key.
    monkeypatch.setenv("SANDBOX_NEW_SECRET_KEY", "hunter2")
    assert_one_line_error(cloud_cli("admin", "rotate-key", user=ADMIN), "the new key is not a valid Fernet key")
    assert "hunter2" not in cloud_cli("admin", "rotate-key", user=ADMIN).stderr
    assert ciphertexts(database) == before


# ---- the key loading and Vault in-process, pinned by mutation testing (issue 16) ----------

from sandbox.config import SecretsSettings, Settings  # noqa: E402
from sandbox.secrets import KEY_ENV, NEW_KEY_ENV, load_key, load_new_key  # noqa: E402


def settings_with(key: str = "", key_file: str = "") -> Settings:
    return Settings(secrets=SecretsSettings(key=key, key_file=key_file))


def test_load_key_prefers_env_then_config_then_file_and_strips_each(monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("  from-file \n", encoding="utf-8")
    monkeypatch.setenv(KEY_ENV, " from-env\n")
    assert load_key(settings_with("from-config", str(key_file))) == "from-env"
    monkeypatch.delenv(KEY_ENV)
    assert load_key(settings_with(" from-config ", str(key_file))) == "from-config"
    assert load_key(settings_with("", str(key_file))) == "from-file"
    assert load_key(settings_with()) is None
    monkeypatch.setenv(KEY_ENV, "")  # empty: as unset
    assert load_key(settings_with("from-config")) == "from-config"


def test_load_key_expands_home_and_names_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "k").write_text("home-key", encoding="utf-8")
    assert load_key(settings_with(key_file="~/k")) == "home-key"
    with pytest.raises(SecretKeyError) as caught:
        load_key(settings_with(key_file=str(tmp_path / "missing")))
    assert str(caught.value) == f"cannot read secrets.key_file {tmp_path / 'missing'}: No such file or directory"


def test_load_new_key_from_a_file_or_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(NEW_KEY_ENV, " env-key ")
    (tmp_path / "new.key").write_text(" file-key\n", encoding="utf-8")
    assert load_new_key("~/new.key") == "file-key"  # the file wins over the environment
    assert load_new_key() == "env-key"
    assert load_new_key(None) == "env-key"


def test_load_new_key_says_what_is_wrong(monkeypatch, tmp_path):
    monkeypatch.delenv(NEW_KEY_ENV, raising=False)
    with pytest.raises(SecretKeyError) as none:
        load_new_key()
    assert str(none.value) == ("no new key: give --new-key-file PATH or set SANDBOX_NEW_SECRET_KEY "
                               "(make one with: sandbox admin generate-key)")
    monkeypatch.setenv(NEW_KEY_ENV, "   ")
    with pytest.raises(SecretKeyError, match="^no new key"):
        load_new_key()

    empty = tmp_path / "empty.key"
    empty.write_text(" \n", encoding="utf-8")
    with pytest.raises(SecretKeyError) as blank:
        load_new_key(str(empty))
    assert str(blank.value) == f"the new key file {empty} is empty (make a key with: sandbox admin generate-key)"

    with pytest.raises(SecretKeyError) as missing:
        load_new_key(str(tmp_path / "nope"))
    assert str(missing.value) == f"cannot read the new key file {tmp_path / 'nope'}: No such file or directory"

    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SecretKeyError) as undecodable:
        load_new_key(str(binary))
    assert str(undecodable.value) == f"cannot read the new key file {binary}: not a text file"


def test_vault_round_trips_and_any_listed_key_decrypts():
    old, new = generate_key(), generate_key()
    stored = Vault(old).encrypt("s3cret")
    assert stored != "s3cret" and Vault(old).decrypt(stored) == "s3cret"
    both = Vault(f" {new} , {old} ,")  # spaces and an empty part are ignored
    assert both.decrypt(stored) == "s3cret"
    assert Vault(new).decrypt(both.encrypt("x")) == "x"  # the first key encrypts
    Vault(old).require()


@pytest.mark.parametrize("key", [None, "", " , "])
def test_vault_without_a_key_refuses_with_how_to_make_one(key):
    with pytest.raises(SecretKeyError) as caught:
        Vault(key).require()
    assert str(caught.value) == ("no encryption key for secrets: set SANDBOX_SECRET_KEY or [secrets] key / "
                                 "key_file (make one with: sandbox admin generate-key)")


def test_a_key_that_is_not_a_fernet_key_says_so():
    with pytest.raises(SecretKeyError) as caught:
        Vault("not-a-key").encrypt("x")
    assert str(caught.value) == ("the secrets key is not a valid Fernet key (32 url-safe base64 bytes); "
                                 "make one with: sandbox admin generate-key")


def test_decrypting_with_another_key_names_the_setting():
    stored = Vault(generate_key()).encrypt("x")
    with pytest.raises(SecretKeyError) as caught:
        Vault(generate_key()).decrypt(stored)
    assert str(caught.value) == ("cannot decrypt a stored secret: the key differs from the one it was "
                                 "stored with; set SANDBOX_SECRET_KEY to that key")


def test_rotator_moves_a_value_to_exactly_one_new_key():
    old, new = generate_key(), generate_key()
    stored = Vault(old).encrypt("s3cret")
    rotated = Vault(old).rotator(new)(stored)
    assert Vault(new).decrypt(rotated) == "s3cret"
    with pytest.raises(SecretKeyError):
        Vault(old).decrypt(rotated)

    with pytest.raises(SecretKeyError) as two:
        Vault(old).rotator(f"{new},{generate_key()}")
    assert str(two.value) == "the new key must be one Fernet key (make one with: sandbox admin generate-key)"
    with pytest.raises(SecretKeyError, match="^the new key must be one"):
        Vault(old).rotator(" , ")
    with pytest.raises(SecretKeyError) as bad:
        Vault(old).rotator("hunter2")
    assert str(bad.value).startswith("the new key is not a valid Fernet key")

    with pytest.raises(SecretKeyError) as stray:
        Vault(old).rotator(new)(Vault(generate_key()).encrypt("x"))
    assert str(stray.value) == ("cannot decrypt a stored secret with the current key, so nothing was rotated; "
                                "set SANDBOX_SECRET_KEY to the key the secrets were stored with")


def test_generate_key_makes_distinct_usable_text_keys():
    first, second = generate_key(), generate_key()
    assert isinstance(first, str) and first != second
    assert Vault(first).decrypt(Vault(first).encrypt("x")) == "x"
