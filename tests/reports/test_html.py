"""The HTML report: escaped, self-contained, and really rendered by headless Chromium.

Chromium is Debian's `chromium` package (.ci/run installs it where missing). Without it
these tests FAIL: a report nobody has seen render is not tested.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from sandbox.models import CostSample, Event, Finding, Sandbox
from sandbox.reports import run_report
from tests.conftest import ADMIN

EVIL = '<script>alert("owned")</script>@example.com'
EVIL_DEPT = "<img src=x onerror=alert(1)>"


def add_hostile_rows(app) -> None:
    """Rows as a careless import or an old version might have left them (the request path
    validates e-mails, so they go in directly)."""
    now = app.now()
    with Session(app.engine) as session:
        session.add(Sandbox(id="deadbeef", name="evil-deadbeef", provider="aws", template="aws-individual",
                            owner=EVIL, department=EVIL_DEPT, state="active", cloud_id="111122223333",
                            created_at=now - timedelta(days=3), expires_at=now + timedelta(days=1),
                            budget_usd=Decimal("100"), spend_usd=Decimal("12.5")))
        session.flush()
        for n in range(3):
            session.add(CostSample(sandbox_id="deadbeef", day=now.date() - timedelta(days=n), amount_usd=Decimal("4.1667"),
                                   source="test", recorded_at=now))
        session.add(Finding(kind="drift", provider="aws", cloud_id="111122223333", sandbox_id="deadbeef",
                            detail={"before": {"owner": "</code><script>alert(2)</script>"}},
                            first_seen=now, last_seen=now))
        session.add(Event(sandbox_id="deadbeef", at=now, actor=EVIL, action="request", detail={"note": "<b>x</b>"}))
        session.commit()


@pytest.mark.parametrize("kind", ["cost", "audit"])
def test_database_text_is_escaped(empty_app, tmp_path, kind):
    add_hostile_rows(empty_app)
    out = tmp_path / f"{kind}.html"
    run_report(empty_app, ADMIN, kind, fmt="html", out=str(out), group_by="owner" if kind == "cost" else None)
    page = out.read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;@example.com" in page
    assert "&lt;/code&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "script-src" not in page and "default-src 'none'" in page  # CSP: no script would run anyway


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required to test the HTML report and was not found: "
                "install it with `apt-get update && apt-get install -y chromium` (.ci/run does)", pytrace=False)


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_html_renders_in_headless_chromium(scenario, tmp_path):
    add_hostile_rows(scenario.app)
    out = tmp_path / "report.html"
    run_report(scenario.app, ADMIN, "cost", fmt="html", out=str(out))

    dom = run_chromium(tmp_path, "--dump-dom", out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert page.count("<svg") == 3, "every chart is an <svg> element in the rendered DOM"
    assert page.count("<path") > 50, "and each is drawn (bars, lines, glyphs)"
    assert "Top 10 spenders" in page and "Compliance findings" in page
    assert "<script" not in page.lower()  # the hostile owner stayed text

    shot = tmp_path / "report.png"
    done = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", out.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    colours, ink = png_colours(shot)
    assert colours > 50, f"screenshot looks blank ({colours} colours)"
    assert ink > 0.03, f"too little drawn on the screenshot ({ink:.1%} non-white pixels)"
    chart_blue = (0x2F, 0x6F, 0xB3)  # the bars and the line (charts.ACCENT): the charts did render
    assert png_has_colour(shot, chart_blue), "no chart colour on the screenshot"


def png_colours(path: Path) -> tuple[int, float]:
    """Distinct colours and the share of non-white pixels (Pillow comes with matplotlib)."""
    counts = _colour_counts(path)
    total = sum(n for n, _ in counts)
    white = sum(n for n, rgb in counts if min(rgb) >= 250)
    return len(counts), 1 - white / total


def png_has_colour(path: Path, colour: tuple[int, int, int], tolerance: int = 6) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(rgb, colour)) for _, rgb in _colour_counts(path))


def _colour_counts(path: Path) -> list[tuple[int, tuple[int, int, int]]]:
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        return rgb.getcolors(maxcolors=rgb.width * rgb.height)
