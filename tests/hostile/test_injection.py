"""Names, e-mails and free text that try to inject into AWS tags, GCP labels, SQL, a shell
or the HTML report: each arrives as a literal, harmless value (or is refused in one line)."""

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sandbox.providers.gcp.naming import label_value, valid_label
from sandbox.config import Identity
from sandbox.service import get_credentials, request_sandbox
from tests.cli.conftest import ROOT, assert_one_line_error
from tests.conftest import ADMIN, TABLES, make_settings
from tests.e2e.helpers import account_tags, member_iam

# Accepted by check_email (' % + . - are legal in a local part), awkward everywhere else.
QUOTED_OWNER = "o'brien%tag+x'--@example.com"
AWS_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
HOSTILE_TEXT = "a\"b'c;$(id)`id`|&<script>alert(1)</script>\n\t{}[]%00\\"


def hostile_template(folder: Path, provider: str) -> str:
    """A template whose tags try to override ours and carry every awkward character."""
    spec = ('[aws]\naccess_keys = false\npolicies = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n'
            if provider == "aws" else '[gcp]\nroles = ["roles/viewer"]\n')
    folder.mkdir(exist_ok=True)
    (folder / f"{provider}-hostile.toml").write_text(
        f'provider = "{provider}"\n'
        '[tags]\n'
        '"sandbox-owner" = "mallory@example.com"\n'
        '"sandbox-id" = "00000000"\n'
        f'note = {json_string(HOSTILE_TEXT)}\n'
        f'{spec}')
    return f"{provider}-hostile"


def json_string(value: str) -> str:
    import json

    return json.dumps(value)


@pytest.fixture
def hostile_app(db_url, aws_url, gcp_url, clock, tmp_path):
    from sandbox.service import bootstrap, build_app

    settings = make_settings(db_url, aws_url, gcp_url, templates={"dirs": [str(tmp_path / "tpl")]})
    app = build_app(settings, clock=clock)
    bootstrap(app, ADMIN)
    yield app
    app.engine.dispose()


def test_aws_tags_hold_the_literal_harmless_values(hostile_app, aws_url, tmp_path):
    owner = Identity(email=QUOTED_OWNER, department="engineering")
    template = hostile_template(tmp_path / "tpl", "aws")
    view = request_sandbox(hostile_app, owner, template, wait=True)
    assert view["state"] == "active"

    tags = account_tags(aws_url, view["cloud_id"])
    # Ours win over the template's, and only characters AWS accepts reach it.
    assert tags["sandbox-owner"] == "o_brien_tag+x_--@example.com"
    assert tags["sandbox-id"] == view["id"]
    assert tags["note"] == "a_b_c___id__id____script_alert_1__/script________00_"
    assert all(AWS_TAG_VALUE.match(v) for v in tags.values()), tags

    iam = member_iam(aws_url, view["cloud_id"])
    user = get_credentials(hostile_app, owner, view["id"])["user_name"]
    assert re.fullmatch(r"[\w+=,.@-]{1,64}", user)
    user_tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert user_tags == {"sandbox-id": view["id"], "sandbox-member": "o_brien_tag+x_--@example.com"}


def test_gcp_labels_are_valid_and_sanitised(hostile_app, gcp_emulator, tmp_path):
    owner = Identity(email="O'Brien%Tag+X@Example.com", department="engineering")
    template = hostile_template(tmp_path / "tpl", "gcp")
    view = request_sandbox(hostile_app, owner, template, wait=True)
    assert view["state"] == "active"

    labels = gcp_emulator.state.projects[view["cloud_id"]].labels
    assert labels["sandbox-owner"] == "o-brien-tag-x_at_example-com" == label_value("o'brien%tag+x@example.com")
    assert labels["sandbox-id"] == view["id"]
    assert labels["note"] == label_value(HOSTILE_TEXT)
    assert all(valid_label(k, v) for k, v in labels.items()), labels


# ---- SQL ------------------------------------------------------------------------------

def table_counts(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
    engine.dispose()
    return counts


DROP = "x'); DROP TABLE sandbox;--@example.com"


def test_sql_in_an_email_is_refused_or_stored_literally(runner, db_url):
    runner.json("request", "gcp-individual")
    before = table_counts(db_url)

    # Refused as an e-mail, wherever an e-mail goes in.
    assert_one_line_error(runner("request", "gcp-group", "--member", DROP), "not an e-mail address")
    assert_one_line_error(runner("list", user=DROP), "not an e-mail address")
    # Used as a search term, it finds nothing and changes nothing.
    assert_one_line_error(runner("show", DROP), "no sandbox with id")
    found = runner("report", "audit", "--actor", DROP, "-o", "json", user="admin@example.com", check=True).stdout
    assert json.loads(found)["totals"] == {"events": 0}
    assert table_counts(db_url) == before

    # The quotes a real address may hold are stored and shown literally.
    view = runner.json("request", "gcp-individual", user=QUOTED_OWNER)
    assert view["owner"] == QUOTED_OWNER
    assert [s["id"] for s in runner.json("list", user=QUOTED_OWNER)] == [view["id"]]
    assert runner.json("list", "--all", user="admin@example.com")[0]["owner"] == QUOTED_OWNER
    after = table_counts(db_url)
    assert after["sandbox"] == before["sandbox"] + 1 and after["member"] == before["member"] + 1


# ---- shell ----------------------------------------------------------------------------

def test_shell_syntax_is_never_executed(runner, tmp_path, db_url):
    marker = tmp_path / "pwned"
    payloads = [f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"| touch {marker}",
                f"&& touch {marker}"]
    folder = tmp_path / "tpl"
    for payload in payloads:
        runner("request", payload)
        runner("request", "gcp-individual", "--ttl", payload)
        runner("request", "gcp-group", "--member", payload)
        runner("show", payload)
        runner("list", user=payload)
        runner("report", "audit", "--actor", payload, "--format", "csv", "--out", payload, user="admin@example.com")
        folder.mkdir(exist_ok=True)
        bad = folder / "shell.toml"
        bad.write_text(f'provider = "gcp"\ndescription = {json_string(payload)}\n[tags]\nx = {json_string(payload)}\n')
        runner("templates", "validate", str(bad), check=True)
    for payload in payloads:
        group = runner.json("request", "gcp-group")
        runner("admin", "deny", group["id"], "--reason", payload, user="admin@example.com", check=True)
        assert payload in runner("events", group["id"], "-o", "json", check=True).stdout
    runner("report", "audit", "--format", "html", "--out", str(tmp_path / "audit.html"), user="admin@example.com",
           check=True)
    assert not marker.exists()


def test_the_product_never_starts_a_shell():
    """No code path hands a string to a shell: the check above cannot miss one."""
    offenders = []
    for folder in ("sandbox", "providers", "emulators"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text()
            if re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.", source):
                offenders.append(str(path.relative_to(ROOT)))
    if re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(", (ROOT / "cli.py").read_text()):
        offenders.append("cli.py")
    assert offenders == []


# ---- HTML -----------------------------------------------------------------------------

SCRIPT_OWNER = '"><script>alert(1)</script>@example.com'
IMG_DEPARTMENT = "<img src=x onerror=alert(1)>"


def test_html_reports_escape_owner_department_actor_and_reason(runner, db_url, tmp_path):
    view = runner.json("request", "gcp-individual")
    pending = runner.json("request", "gcp-group")
    runner("admin", "deny", pending["id"], "--reason", "<script>alert('reason')</script>",
           user="admin@example.com", check=True)
    # Anyone can name themselves anything; their refused attempt lands in the audit log.
    assert runner("show", view["id"], user="<script>alert('actor')</script>@x.com").returncode == 2
    # And a row written by other means (an old version, a hand edit) carries markup too.
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sandbox SET owner = :o, department = :d WHERE id = :i"),
                     {"o": SCRIPT_OWNER, "d": IMG_DEPARTMENT, "i": view["id"]})
    engine.dispose()

    for kind, group in (("usage", "owner"), ("usage", "department"), ("audit", None)):
        out = tmp_path / f"{kind}-{group}.html"
        args = ["report", kind, "--format", "html", "--out", str(out)] + (["--group-by", group] if group else [])
        runner(*args, user="admin@example.com", check=True)
        html = out.read_text()
        # No element from the data: the markup survives only as escaped text.
        assert "<script" not in html.lower() and "<img" not in html.lower(), kind
    usage_by_owner = (tmp_path / "usage-owner.html").read_text()
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in usage_by_owner
    assert "&lt;img src=x onerror=alert(1)&gt;" in (tmp_path / "usage-department.html").read_text()
    audit = (tmp_path / "audit-None.html").read_text()
    assert "<td>&lt;script&gt;alert(&#x27;actor&#x27;)&lt;/script&gt;@x.com</td>" in audit
    assert "&quot;&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;&quot;" in audit


# ---- terminal -------------------------------------------------------------------------

def test_tables_print_markup_and_escape_sequences_as_text(runner):
    """rich read cell values as markup ("[/x]" crashed `events`, "[red]" restyled it)."""
    group = runner.json("request", "gcp-group")
    reason = "[/x] [red]red[/red] :smile: \x1b]0;owned\x07 \x1b[2J"
    runner("admin", "deny", group["id"], "--reason", reason, user="admin@example.com", check=True)
    shown = runner("events", group["id"], check=True).stdout
    assert "[/x] [red]red[/red] :smile:" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    error = runner("show", "\x1b[2Jgone\u202e")
    assert_one_line_error(error, "no sandbox with id")
    assert "\x1b" not in error.stderr and "\u202e" not in error.stderr
