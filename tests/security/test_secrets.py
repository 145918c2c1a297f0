"""Secrets at rest and in logs: after a full AWS provision the raw database holds neither
the console password nor the secret access key, and no log line or command output of a
whole life cycle (at DEBUG, botocore and urllib3 included) shows them."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from sandbox.service import get_credentials, request_sandbox
from tests.cli.conftest import ROOT, write_config
from tests.conftest import ALICE


def secret_forms(secret: str) -> list[bytes]:
    """The secret as it could appear in stored text: raw, JSON-escaped, repr-escaped."""
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    return [f.encode() for f in forms]


def raw_database_bytes(db_url: str) -> bytes:
    """Everything the database holds, read from outside the product.

    SQLite: the file and its write-ahead log, byte for byte. PostgreSQL: pg_dump's data,
    plus every column of every table cast to text (in case pg_dump is missing)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    chunks = []
    if shutil.which("pg_dump"):
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        chunks.append(subprocess.run(["pg_dump", "--data-only", "--no-owner", plain], capture_output=True,
                                     check=True, timeout=60).stdout)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(table)]
            for row in conn.execute(text(f"SELECT {', '.join(f'{c}::text' for c in columns)} FROM {table}")):
                chunks.append("\x1f".join(v or "" for v in row).encode())
    engine.dispose()
    return b"\n".join(chunks)


def test_raw_database_holds_no_password_and_no_secret_key(bootstrapped, db_url):
    view = request_sandbox(bootstrapped, ALICE, "aws-individual", wait=True)  # console login + access key
    creds = get_credentials(bootstrapped, ALICE, view["id"])
    secrets = {"password": creds["password"], "secret_access_key": creds["secret_access_key"]}
    assert all(len(s) >= 16 for s in secrets.values())

    raw = raw_database_bytes(db_url)
    assert view["id"].encode() in raw  # the dump did read the data
    for name, secret in secrets.items():
        for form in secret_forms(secret):
            assert form not in raw, f"the {name} is stored in clear"
    # They are there, encrypted: the product reads them back with its key.
    assert get_credentials(bootstrapped, ALICE, view["id"])["password"] == secrets["password"]


# ---- logs -----------------------------------------------------------------------------

DRIVER = textwrap.dedent('''
    """Runs sandbox commands in one process with every logger at DEBUG, whatever the
    product asks, writing the log to LOG and each command's output to OUT/<n>.*"""
    import json, logging, sys
    from pathlib import Path

    log_path, steps_path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(threadName)s %(message)s"))
    logging.root.addHandler(handler)
    logging.root.setLevel(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", "sqlalchemy", "googleapiclient", "google", "sandbox", "providers"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.Logger.setLevel = lambda self, level: None  # the daemon quiets botocore: not here

    from click.testing import CliRunner
    from sandbox.cli import main

    sandbox_id = ""
    for n, argv in enumerate(json.loads(steps_path.read_text())):
        argv = [a.replace("{id}", sandbox_id) for a in argv]
        result = CliRunner().invoke(main, argv)
        (out / f"{n}.out").write_text(result.stdout)
        (out / f"{n}.err").write_text(result.stderr)
        if result.exit_code != 0:
            sys.exit(f"step {n} {argv} failed ({result.exit_code}): {result.stderr}")
        if "request" in argv:
            sandbox_id = json.loads(result.stdout)["id"]
''')


def test_no_log_line_or_output_of_a_life_cycle_shows_a_secret(tmp_path, db_url, aws_url, gcp_url):
    config = write_config(tmp_path / "sandbox.toml", db_url, aws_url, gcp_url)
    steps = [
        ["request", "aws-individual", "--wait", "-o", "json"],
        ["credentials", "{id}", "-o", "json"],  # its output is the one place the secrets may appear
        ["show", "{id}"], ["list"], ["events", "{id}"], ["extend", "{id}", "--by", "1d"],
        ["daemon", "--once"], ["destroy", "{id}", "--yes"],
    ]
    steps = [["--config", str(config), *s] for s in steps]
    bootstrap = ["--config", str(config), "admin", "bootstrap"]
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "steps.json").write_text(json.dumps([bootstrap] + steps))
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "debug.log"
    done = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(log), str(tmp_path / "steps.json"),
                           str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SANDBOX_USER": "admin@example.com",
                               "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]

    credentials = json.loads((out / "2.out").read_text())  # step 0 is the bootstrap
    secrets = {"password": credentials["password"], "secret_access_key": credentials["secret_access_key"]}
    logged = log.read_bytes()
    assert b"botocore.endpoint DEBUG" in logged and b"urllib3" in logged  # DEBUG really was on
    assert b"CreateLoginProfile" in logged and b"CreateAccessKey" in logged  # the calls that carry them
    captured = {"the debug log": logged, "the driver's own output": (done.stdout + done.stderr).encode()}
    for path in sorted(out.iterdir()):
        if path.name != "2.out":
            captured[path.name] = path.read_bytes()
    for where, content in captured.items():
        for name, secret in secrets.items():
            for form in secret_forms(secret):
                assert form not in content, f"the {name} appears in {where}"
