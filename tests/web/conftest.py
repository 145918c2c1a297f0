"""The web UI in a real browser: Playwright drives Debian's chromium (no browser download
is possible here) against a real server (tests/server's fixture: uvicorn, the local
OpenID provider, moto, the GCP emulator, SQLite or PostgreSQL).

axe-core (vendored from its npm package, tests only) is added to every page as an init
script, which the DevTools protocol injects without touching the page's CSP."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.oidc import oidc_provider  # noqa: F401  (a fixture)
from tests.server.conftest import USERS, api_server, wait_for_state  # noqa: F401  (fixtures, helpers)

CHROMIUM = os.environ.get("SANDBOX_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/services.sh installs Debian's chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Under the run's output folder (pytest's base temp, or $SANDBOX_WEB_SCREENSHOTS)."""
    folder = Path(os.environ.get("SANDBOX_WEB_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Browsing:
    """One signed-in browser context; what the page said to its console is kept."""

    page: object
    user: str
    console: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]


class Web:
    def __init__(self, server, browser):
        self.server, self.browser = server, browser
        self.url = server.url
        self._contexts = []

    def sign_in(self, user: str, *, viewport=DESKTOP, javascript: bool = True, start: str = "/") -> Browsing:
        email, groups = USERS[user]
        self.server.provider.set_user(user, email, groups=groups)
        context = self.browser.new_context(viewport=viewport, java_script_enabled=javascript,
                                           base_url=self.url)
        self._contexts.append(context)
        # The mock provider's page links a CDN stylesheet: there is no internet here.
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"), lambda route: route.abort())
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        seen = Browsing(page, user)
        page.on("console", lambda message: seen.console.append(message.text))
        page.on("pageerror", lambda error: seen.console.append(f"pageerror: {error}"))
        page.goto(start)  # not signed in: sent to the provider's sign-in page
        assert "/oauth2/authorize" in page.url, page.url
        page.fill("input[name=sub]", user)
        page.click("button:has-text('Authorize')")
        page.wait_for_url(re.compile(re.escape(self.url) + r"/(?!auth/)"))
        return seen

    def close(self):
        for context in self._contexts:
            context.close()


@pytest.fixture
def web(api_server, browser):  # noqa: F811
    opened = Web(api_server, browser)
    yield opened
    opened.close()


def axe_serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
