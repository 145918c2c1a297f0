"""The CLI's sign-in against the real local OpenID provider: a $BROWSER script plays the
person clicking "sign in", the token endpoint is the provider's own."""

from __future__ import annotations

import base64
import json
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import webbrowser

import httpx
import pytest

from sandbox.client.login import (NotSignedInError, OidcClientConfig, TokenCache, current_id_token, discover, login,
                                  refresh)
from sandbox.errors import SandboxError, UsageError


@pytest.fixture
def config(oidc_provider):
    return OidcClientConfig(issuer=oidc_provider.issuer, client_id=oidc_provider.client_id,
                            client_secret=oidc_provider.client_secret)


@pytest.fixture
def use_browser(monkeypatch):
    """Point $BROWSER at a script. webbrowser reads $BROWSER once per process, so its
    registry is reset (and restored afterwards) for each test."""
    def use(command: str) -> None:
        monkeypatch.setenv("BROWSER", command)
        monkeypatch.setattr(webbrowser, "_tryorder", None)
    return use


def claims_of(id_token: str) -> dict:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sign_in_by_hand(echoed: list[str], sub: str) -> str:
    """What a person does with --no-browser: open the echoed URL, pick `sub`, copy the
    address the provider redirects to (nobody listens there, so only the URL bar has it)."""
    url = re.search(r"https?://\S+/oauth2/authorize\?\S+", "\n".join(echoed)).group(0)
    answer = httpx.post(url, data={"sub": sub})
    assert answer.status_code == 302
    return answer.headers["location"]


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def test_loopback_login_caches_a_real_id_token(oidc_provider, config, use_browser, tmp_path):
    oidc_provider.set_user("alice", "alice@example.com", groups=["engineering"])
    use_browser(oidc_provider.browser_script(tmp_path, "alice"))
    echoed: list[str] = []

    tokens = login(config, echo=echoed.append, timeout=30)

    claims = claims_of(tokens["id_token"])
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["engineering"]
    assert claims["iss"] == oidc_provider.issuer
    assert tokens["expires_at"] == claims["exp"] > time.time()
    assert tokens["refresh_token"] and tokens["token_endpoint"].startswith(oidc_provider.issuer)
    assert "if it does not open, visit" in echoed[0]
    assert not any(tokens["id_token"] in line or tokens["refresh_token"] in line for line in echoed)

    cache = TokenCache.for_server("https://sandbox.example.com", base_dir=tmp_path / "config")
    cache.save(tokens)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert cache.load() == tokens
    assert current_id_token(cache, config) == tokens["id_token"]


def test_loopback_callback_answers_the_browser(oidc_provider, config, use_browser, tmp_path):
    """The browser gets a page saying it is done; the script records what it saw."""
    page = tmp_path / "page.html"
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\nimport sys, httpx\n"
                      "answer = httpx.post(sys.argv[1], data={'sub': 'carol'})\n"
                      f"open({str(page)!r}, 'w').write(httpx.get(answer.headers['location']).text)\n")
    script.chmod(0o755)
    use_browser(str(script))

    login(config, echo=lambda _line: None, timeout=30)

    assert "Signed in" in page.read_text()


def test_no_browser_login_with_the_pasted_address(oidc_provider, config):
    oidc_provider.set_user("bob", "bob@example.com")
    echoed: list[str] = []

    tokens = login(config, open_browser=False, echo=echoed.append,
                   read_line=lambda: sign_in_by_hand(echoed, "bob"))

    assert claims_of(tokens["id_token"])["email"] == "bob@example.com"
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in echoed[0]


def test_no_browser_login_with_only_the_code(oidc_provider, config):
    oidc_provider.set_user("dave", "dave@example.com")
    echoed: list[str] = []

    def paste_code() -> str:
        redirected = sign_in_by_hand(echoed, "dave")
        return urllib.parse.parse_qs(urllib.parse.urlparse(redirected).query)["code"][0]

    tokens = login(config, open_browser=False, echo=echoed.append, read_line=paste_code)

    assert claims_of(tokens["id_token"])["email"] == "dave@example.com"


def test_a_wrong_state_is_refused(oidc_provider, config):
    echoed: list[str] = []

    def paste_forged_state() -> str:
        redirected = urllib.parse.urlparse(sign_in_by_hand(echoed, "mallory"))
        query = dict(urllib.parse.parse_qsl(redirected.query), state="someone-elses-login")
        return redirected._replace(query=urllib.parse.urlencode(query)).geturl()

    with pytest.raises(NotSignedInError) as caught:
        login(config, open_browser=False, echo=echoed.append, read_line=paste_forged_state)

    assert caught.value.exit_code == 3
    assert "state" in one_line(caught.value)


def test_a_pasted_address_without_its_state_is_refused(oidc_provider, config):
    echoed: list[str] = []

    def paste_without_state() -> str:
        redirected = urllib.parse.urlparse(sign_in_by_hand(echoed, "mallory"))
        query = {k: v for k, v in urllib.parse.parse_qsl(redirected.query) if k != "state"}
        return redirected._replace(query=urllib.parse.urlencode(query)).geturl()

    with pytest.raises(NotSignedInError, match="state"):
        login(config, open_browser=False, echo=echoed.append, read_line=paste_without_state)


@pytest.mark.parametrize("pasted", ["", "http://127.0.0.1:1/callback?foo=bar", "   "])
def test_a_bad_paste_is_bad_input(config, pasted):
    with pytest.raises(UsageError) as caught:
        login(config, open_browser=False, echo=lambda _line: None, read_line=lambda: pasted)

    assert caught.value.exit_code == 2
    assert "authorization code" in one_line(caught.value)


def test_the_provider_refusing_is_one_line(oidc_provider, config):
    """The person clicks "deny": the provider redirects with error=access_denied."""
    echoed: list[str] = []

    def deny() -> str:
        url = re.search(r"\S+/oauth2/authorize\?\S+", "\n".join(echoed)).group(0)
        return httpx.post(url, data={"action": "deny"}).headers["location"]

    with pytest.raises(NotSignedInError) as caught:
        login(config, open_browser=False, echo=echoed.append, read_line=deny)

    assert "access_denied" in one_line(caught.value)


def test_a_token_endpoint_error_is_one_line(oidc_provider, config):
    """A code the provider never issued: its token endpoint answers invalid_grant JSON."""
    echoed: list[str] = []

    def paste_bogus_code() -> str:
        redirected = urllib.parse.urlparse(sign_in_by_hand(echoed, "erin"))
        query = dict(urllib.parse.parse_qsl(redirected.query), code="not-a-real-code")
        return redirected._replace(query=urllib.parse.urlencode(query)).geturl()

    with pytest.raises(NotSignedInError) as caught:
        login(config, open_browser=False, echo=echoed.append, read_line=paste_bogus_code)

    message = one_line(caught.value)
    assert "refused (400)" in message
    assert "not-a-real-code" not in message


def test_no_callback_within_the_timeout(config, use_browser):
    use_browser("true")  # a "browser" that opens nothing

    started = time.monotonic()
    with pytest.raises(NotSignedInError) as caught:
        login(config, echo=lambda _line: None, timeout=0.5)

    assert time.monotonic() - started < 10
    assert "sandbox login" in one_line(caught.value)


def test_an_unreachable_issuer_is_one_line():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"

    with pytest.raises(SandboxError) as caught:
        login(OidcClientConfig(issuer=issuer, client_id="sandbox"), echo=lambda _line: None)
    with pytest.raises(SandboxError):
        discover(issuer)

    assert one_line(caught.value).startswith(f"cannot reach the sign-in provider at {issuer}/.well-known/")


def test_not_signed_in(config, tmp_path):
    cache = TokenCache.for_server("https://sandbox.example.com", base_dir=tmp_path)

    with pytest.raises(NotSignedInError) as caught:
        current_id_token(cache, config)

    assert caught.value.exit_code == 3
    assert "run: sandbox login" in one_line(caught.value)


def test_an_expired_token_without_a_refreshed_id_token_asks_to_sign_in_again(oidc_provider, config, tmp_path):
    """The provider answers a refresh with no ID token, so the session cannot go on silently."""
    echoed: list[str] = []
    tokens = login(config, open_browser=False, echo=echoed.append, read_line=lambda: sign_in_by_hand(echoed, "frank"))
    assert refresh(tokens, config) is None
    cache = TokenCache.for_server("https://sandbox.example.com", base_dir=tmp_path)
    cache.save({**tokens, "expires_at": time.time() + 30})  # inside the 60 s leeway

    with pytest.raises(NotSignedInError) as caught:
        current_id_token(cache, config)

    assert caught.value.exit_code == 3
    assert "session expired; run: sandbox login" in one_line(caught.value)


def test_token_cache_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_CONFIG_HOME", str(tmp_path / "home"))
    one = TokenCache.for_server("https://a.example.com")
    assert one.path.is_relative_to(tmp_path / "home")
    assert TokenCache.for_server("https://a.example.com/").path == one.path
    assert TokenCache.for_server("https://b.example.com").path != one.path
    assert "a.example.com" not in one.path.name

    assert one.load() is None
    assert one.clear() is False
    one.save({"id_token": "x"})
    leftover = one.path.with_name(one.path.name + ".tmp")
    assert not leftover.exists() and [p.name for p in one.path.parent.iterdir()] == [one.path.name]
    assert one.clear() is True
    assert one.load() is None

    one.path.parent.mkdir(parents=True, exist_ok=True)
    one.path.write_text("[1, 2]")  # damaged or foreign: treated as not signed in
    assert one.load() is None


def test_the_login_module_imports_only_the_standard_library():
    heavy = ["httpx", "sqlalchemy", "sqlmodel", "boto3", "google", "jwt", "cryptography", "click", "rich"]
    probe = ("import sys, sandbox.client.login; "
             f"print([name for name in {heavy!r} if name in sys.modules])")
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"
