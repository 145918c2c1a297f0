from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.config import current_identity, load_settings, parse_settings
from sandbox.config import DaemonSettings
from sandbox.durations import LabelledDuration
from sandbox.errors import ConfigError
from sandbox.jobs import JOBS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sandbox.toml"
    path.write_text(text)
    return path


def test_example_config_loads_and_documents_every_key():
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    settings = load_settings(str(example))
    assert settings.clouds["aws"].access_role == "OrganizationAccountAccessRole"
    text = example.read_text()
    from dataclasses import fields

    sections = {name: getattr(settings, name) for name in ("database", "secrets", "identity", "admin", "quotas",
                                                           "templates", "daemon", "notify", "approval", "server",
                                                           "auth")}
    assert set(settings.clouds) == {"aws", "gcp"}
    for section, values in {**sections, **settings.clouds}.items():
        for f in fields(values):
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


DAEMON_DURATIONS = ["provision_interval", "expiry_interval", "budget_interval", "tags_interval",
                    "reconcile_interval", "notify_interval", "retry_backoff", "lease"]


def test_daemon_has_one_interval_per_job_and_nothing_else():
    intervals = [f.name for f in fields(DaemonSettings) if f.name.endswith("_interval")]
    assert intervals == [job.interval_key for job in JOBS]
    assert all(isinstance(getattr(DaemonSettings(), key), timedelta) for key in intervals)


def test_daemon_durations_are_timedeltas_once_loaded(tmp_path):
    written = {key: f"{n + 2}m" for n, key in enumerate(DAEMON_DURATIONS)}
    text = "[daemon]\n" + "".join(f'{key} = "{value}"\n' for key, value in written.items())
    daemon = load_settings(str(write(tmp_path, text + 'warn_before = ["72h", "1d12h"]\n'))).daemon

    for n, key in enumerate(DAEMON_DURATIONS):
        assert getattr(daemon, key) == timedelta(minutes=n + 2), key
    # The lead keeps the text it was written as: it names the warning's milestone.
    assert daemon.warn_before == [LabelledDuration("72h", timedelta(days=3)),
                                  LabelledDuration("1d12h", timedelta(hours=36))]
    assert DaemonSettings().warn_before == [("3d", timedelta(days=3)), ("1d", timedelta(days=1))]


@pytest.mark.parametrize("key", DAEMON_DURATIONS)
def test_bad_daemon_duration_is_a_config_error_naming_the_key(tmp_path, key):
    path = write(tmp_path, f'[daemon]\n{key} = "15x"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(str(path))
    assert str(err.value) == f"{path}: [daemon] {key} '15x' is not a duration; use e.g. 12h, 7d or 2w"


@pytest.mark.parametrize("value, problem", [
    ('["3d", "soon"]', "[daemon] warn_before 'soon' is not a duration"),
    ('["0m"]', "[daemon] warn_before '0m' must be longer than zero"),
    ('"3d"', "daemon.warn_before must be a list of str"),
    ("[3]", "daemon.warn_before must be a list of str"),
])
def test_bad_warn_before_is_a_config_error_naming_the_key(tmp_path, value, problem):
    path = write(tmp_path, f"[daemon]\nwarn_before = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(str(path))
    assert str(err.value).startswith(f"{path}: {problem}")


def test_a_duration_must_be_a_string(tmp_path):
    with pytest.raises(ConfigError, match=r"daemon.lease must be str, got int 15"):
        load_settings(str(write(tmp_path, "[daemon]\nlease = 15\n")))


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
    assert load_settings().clouds["aws"].region == "eu-west-1"
    other = tmp_path / "other.toml"
    other.write_text("[aws]\nregion = 'ap-south-1'\n")
    monkeypatch.setenv("SANDBOX_CONFIG", str(other))
    assert load_settings().clouds["aws"].region == "ap-south-1"


def test_departments_resolve_relative_to_active_roots(tmp_path):
    settings = load_settings(str(write(tmp_path, """
[aws]
[gcp]
[departments.eng]
aws_ou = "engineering"
gcp_folder = "folders/42"
[departments.ops]
aws_ou = "/ops/sandboxes"
""")))
    assert settings.clouds["aws"].department_location("eng") == "/sandbox/active/engineering"
    assert settings.clouds["aws"].department_location("ops") == "/ops/sandboxes"
    assert settings.clouds["gcp"].department_location("eng") == "folders/42"
    assert settings.clouds["gcp"].department_location("ops") is None


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


def test_a_cloud_is_on_when_its_table_is_in_the_config(tmp_path):
    embedded = parse_settings({}, "embedded defaults", every_cloud=True)
    assert set(embedded.clouds) == {"aws", "gcp"}
    assert embedded.clouds["gcp"].department_location("default") == "sandbox/active/default"
    aws_only = load_settings(str(write(tmp_path, "[aws]\n[departments.eng]\naws_ou = 'eng'\n")))
    assert list(aws_only.clouds) == ["aws"]
    assert aws_only.clouds["aws"].department_location("eng") == "/sandbox/active/eng"
    with pytest.raises(ConfigError, match=r"GCP is not enabled here; add an \[gcp\] table to .*sandbox.toml"):
        aws_only.cloud("gcp")
    with pytest.raises(ConfigError, match="unknown cloud 'azure'; installed: aws, gcp"):
        aws_only.cloud("azure")


def test_department_keys_are_the_installed_clouds_placement_keys(tmp_path):
    path = write(tmp_path, "[aws]\n[departments.eng]\nazure_group = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown key departments.eng.azure_group \(expected one of: aws_ou, "
                                          r"gcp_folder, groups\)"):
        load_settings(str(path))


def test_concurrency_is_the_clouds_own_setting(tmp_path):
    settings = load_settings(str(write(tmp_path, "[aws]\nconcurrency = 2\n[gcp]\n")))
    assert (settings.clouds["aws"].concurrency, settings.clouds["gcp"].concurrency) == (2, 8)
