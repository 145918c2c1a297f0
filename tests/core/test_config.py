from pathlib import Path

import pytest

from sandbox.config import current_identity, load_settings
from sandbox.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sandbox.toml"
    path.write_text(text)
    return path


def test_example_config_loads_and_documents_every_key():
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    settings = load_settings(str(example))
    assert settings.aws.access_role == "OrganizationAccountAccessRole"
    text = example.read_text()
    from dataclasses import fields

    for section in ("database", "secrets", "identity", "admin", "quotas", "templates", "aws", "gcp",
                    "daemon", "notify", "approval", "server", "auth"):
        for f in fields(getattr(settings, section)):
            if f.name != "departments":
                assert f"{f.name} =" in text or f"# {f.name} =" in text, f"[{section}] {f.name} undocumented"


def test_unknown_key_names_file_key_and_expected(tmp_path):
    path = write(tmp_path, "[aws]\nregoin = 'x'\n")
    with pytest.raises(ConfigError) as err:
        load_settings(str(path))
    assert str(path) in str(err.value) and "aws.regoin" in str(err.value) and "region" in str(err.value)


def test_wrong_type_is_one_line_error(tmp_path):
    path = write(tmp_path, "[quotas]\nmax_live_per_user = 'three'\n")
    with pytest.raises(ConfigError, match=r"quotas.max_live_per_user must be int"):
        load_settings(str(path))


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(str(write(tmp_path, "[aws\n")))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "nope.toml"))


def test_lookup_order_env_then_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SANDBOX_CONFIG", raising=False)
    assert load_settings().source == "embedded defaults"
    write(tmp_path, "[aws]\nregion = 'eu-west-1'\n")
    assert load_settings().aws.region == "eu-west-1"
    other = tmp_path / "other.toml"
    other.write_text("[aws]\nregion = 'ap-south-1'\n")
    monkeypatch.setenv("SANDBOX_CONFIG", str(other))
    assert load_settings().aws.region == "ap-south-1"


def test_departments_resolve_relative_to_active_roots(tmp_path):
    settings = load_settings(str(write(tmp_path, """
[departments.eng]
aws_ou = "engineering"
gcp_folder = "folders/42"
[departments.ops]
aws_ou = "/ops/sandboxes"
""")))
    assert settings.aws.department_ou("eng") == "/sandbox/active/engineering"
    assert settings.aws.department_ou("ops") == "/ops/sandboxes"
    assert settings.gcp.department_folder("eng") == "folders/42"
    assert settings.gcp.department_folder("ops") is None


def test_identity_env_overrides_and_admin(tmp_path, monkeypatch):
    settings = load_settings(str(write(tmp_path, """
[identity]
email = "alice@example.com"
[admin]
users = ["Root@Example.com"]
""")))
    assert current_identity(settings).email == "alice@example.com"
    monkeypatch.setenv("SANDBOX_USER", "root@example.com")
    identity = current_identity(settings)
    assert identity.email == "root@example.com" and identity.is_admin
