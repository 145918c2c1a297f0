"""Web pages against the JSON API: does a page serve its first byte in at most twice the
time of the API call that returns the same rows? (issue 14)

With 10,000 sandboxes in PostgreSQL (the history of bench/_common.history_seeds, of which
one user owns 200), one `sandbox server` process and the real local OpenID provider, it
signs a browser in once over the real flow (GET / -> /auth/login -> the provider's sign-in
form, POSTed -> /auth/callback -> the session cookie) and then measures time to first byte
(httpx streaming: until the response headers and the first body chunk are in) of
  All sandboxes  /sandboxes (as an admin): the default order, ?sort=name, ?sort=owner,
                 ?sort=-expires, ?state=active
      against    GET /api/v1/sandboxes?scope=visible&limit=50 with the same order and filter
  My sandboxes   / (as the user owning 200)
      against    GET /api/v1/sandboxes?scope=mine&limit=50
(50: the pages' PAGE in sandbox/web/pages.py). Each round asks every route once, page and
API of a pair back to back in alternating order; each figure is a route's median over the
rounds. Target: page <= 2.0x its API call, for every pair; a miss exits 1.

The EXPLAIN (ANALYZE) of each pair's list query (captured from the service call the page
makes) is shown too: a sequential scan plus a sort of all rows means no index serves the
order.

    .venv/bin/python bench/web_bench.py [--rounds 60] [--sandboxes 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import _common as c

import httpx

TARGET = 2.0
PAGE = 50  # sandbox/web/pages.py PAGE
ADMIN: tuple[str, str, list[str]] = ("bench-admin", "admin@example.com", ["admins"])
OWNER: tuple[str, str, list[str]] = ("bench-owner", "owner@example.com", [])
OWNED = 200
# name -> (page path, API query, who, the service call's arguments for EXPLAIN)
CASES = {
    "all, default (-created)": ("/sandboxes", "scope=visible", "admin", {"mine": False}),
    "all, ?sort=name": ("/sandboxes?sort=name", "scope=visible&sort=name", "admin", {"mine": False, "sort": "name"}),
    "all, ?sort=owner": ("/sandboxes?sort=owner", "scope=visible&sort=owner", "admin",
                         {"mine": False, "sort": "owner"}),
    "all, ?sort=-expires": ("/sandboxes?sort=-expires", "scope=visible&sort=-expires", "admin",
                            {"mine": False, "sort": "-expires"}),
    "all, ?state=active": ("/sandboxes?state=active", "scope=visible&state=active", "admin",
                           {"mine": False, "filters": {"state": "active"}}),
    "mine (one user's 200)": ("/", "scope=mine", "owner", {"mine": True}),
}


def sign_in(url: str, provider, who: tuple[str, str, list[str]]) -> httpx.Client:
    """A browser's session: the real authorization-code flow with PKCE, through the
    provider's sign-in form. Returns a client holding the session cookie."""
    sub, email, groups = who
    provider.set_user(sub, email, groups=groups)  # the provider's claims for this subject
    browser = httpx.Client(base_url=url, timeout=30)
    answer = browser.get("/", follow_redirects=True)  # -> /auth/login -> the provider's form
    assert "/oauth2/authorize" in str(answer.url) and 'name="sub"' in answer.text, answer.url
    chosen = browser.post(str(answer.url), data={"sub": sub})  # the form's POST: a redirect to the callback
    assert chosen.status_code in (302, 303) and "/auth/callback" in chosen.headers["location"], chosen.status_code
    landed = browser.get(chosen.headers["location"], follow_redirects=True)
    assert landed.status_code == 200 and str(landed.url).rstrip("/") == url, (landed.status_code, landed.url)
    assert "sandbox_session" in browser.cookies
    return browser


def first_byte(client: httpx.Client, path: str) -> tuple[float, float]:
    """(seconds to the headers and first body chunk, seconds to the whole body)."""
    started = time.perf_counter()
    with client.stream("GET", path) as response:
        chunks = response.iter_raw()
        next(chunks, b"")
        first = time.perf_counter() - started
        for _ in chunks:
            pass
        whole = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return first, whole


def explain(db_url: str, settings, identities: dict, cases: dict) -> dict[str, dict]:
    """Each case's list query as the page's service call sends it, run with EXPLAIN ANALYZE."""
    from sqlalchemy import event

    from sandbox import service
    from sandbox.service import build_app

    app = build_app(settings)
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM sandbox" in statement and "ORDER BY" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    reads = app._reads  # app.read's autocommit engine, which the list query goes through
    event.listen(reads, "before_cursor_execute", capture)
    plans = {}
    try:
        for name, (_page, _api, who, call) in cases.items():
            seen.clear()
            service.list_sandbox_page(app, identities[who], limit=PAGE, **call)
            statement, parameters = seen[-1]
            with reads.connect() as conn:
                lines = [row[0] for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
            text = "\n".join(lines)
            took = re.search(r"Execution Time: ([\d.]+) ms", text)
            plans[name] = {"plan": lines, "execution_ms": float(took.group(1)) if took else None,
                           "seq_scan": "Seq Scan on sandbox" in text,
                           "sorts_all": bool(re.search(r"^\s*(->\s*)?(Incremental )?Sort\b", text, re.M))
                           and "Seq Scan on sandbox" in text}
    finally:
        event.remove(reads, "before_cursor_execute", capture)
        app.close()
    return plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="samples per route (one per round)")
    parser.add_argument("--sandboxes", type=int, default=10_000)
    parser.add_argument("--plans", action="store_true", help="print each query's whole EXPLAIN ANALYZE")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    import logging

    from oidc_provider_mock import run_server_in_thread

    from sandbox.config import Identity
    from sandbox.db import make_engine

    sys.path.insert(0, str(c.ROOT))
    from tests.oidc import OidcProvider

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the provider's request log
    began = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="web-bench-"))
    with c.postgres_database("sandbox_web_bench") as db_url, run_server_in_thread(port=0) as idp:
        issuer = f"http://localhost:{idp.server_port}"
        settings = c.bench_settings(db_url)
        engine = make_engine(db_url)
        rng = random.Random(14)
        now = datetime.now(timezone.utc)
        seeds = c.history_seeds(args.sandboxes - OWNED, now, rng)
        owned = c.history_seeds(OWNED, now, rng, users=1, active_share=0.6)
        for seed in owned:
            seed.owner = OWNER[1]
        seeds += owned
        rng.shuffle(seeds)
        with c.Stopwatch() as seeding:
            c.seed_sandboxes(engine, settings, seeds, rng=rng)
        engine.dispose()

        port = c.free_port()
        config = folder / "server.toml"
        config.write_text(c.settings_toml({
            "database": {"url": db_url}, "secrets": {"key": settings.secrets.key},
            "server": {"port": port, "provision_on_request": False},
            "auth": {"issuer": issuer, "client_id": "bench", "client_secret": "bench-secret",
                     "admin_groups": ["admins"]},
            "quotas": {"max_live_per_user": 0}}))
        server = subprocess.Popen([str(c.VENV_BIN / "sandbox"), "--config", str(config), "server"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        clients: list[httpx.Client] = []
        try:
            url = f"http://127.0.0.1:{port}"
            from server_bench import wait_ready

            wait_ready(url)
            provider = OidcProvider(issuer)
            pages = {"admin": sign_in(url, provider, ADMIN), "owner": sign_in(url, provider, OWNER)}
            apis = {}
            for who, (sub, email, groups) in (("admin", ADMIN), ("owner", OWNER)):
                token = provider.id_token(sub, email, groups=groups, client_id="bench")
                apis[who] = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})
            clients = [*pages.values(), *apis.values()]
            routes = {name: (page, f"/api/v1/sandboxes?{api}&limit={PAGE}", who)
                      for name, (page, api, who, _call) in CASES.items()}

            # The page shows the API's rows: same page size, same order, same filter.
            for name, (page, api, who) in routes.items():
                items = apis[who].get(api).json()["items"]
                html = pages[who].get(page).text
                assert len(items) == PAGE, (name, len(items))
                places = [html.find(f"/sandboxes/{item['id']}\"") for item in items]
                assert all(p >= 0 for p in places) and places == sorted(places), f"{name}: the page's rows differ"

            for _ in range(3):  # warm: pools filled, templates compiled, statements prepared
                for page, api, who in routes.values():
                    first_byte(pages[who], page)
                    first_byte(apis[who], api)

            samples: dict[str, dict[str, list[float]]] = {
                name: {"page": [], "api": [], "page_whole": [], "api_whole": []} for name in routes}
            for n in range(args.rounds):
                for name, (page, api, who) in routes.items():
                    order = (("page", pages[who], page), ("api", apis[who], api))
                    for kind, client, path in (order if n % 2 else order[::-1]):
                        first, whole = first_byte(client, path)
                        samples[name][kind].append(first)
                        samples[name][f"{kind}_whole"].append(whole)
            page_bytes = {name: len(pages[who].get(page).content) for name, (page, _api, who) in routes.items()}
        finally:
            for client in clients:
                client.close()
            server.terminate()
            server.wait(10)

        identities = {"admin": Identity(ADMIN[1], "engineering", is_admin=True, subject=f"{issuer}|{ADMIN[0]}"),
                      "owner": Identity(OWNER[1], "engineering", subject=f"{issuer}|{OWNER[0]}")}
        plans = explain(db_url, settings, identities, CASES)
    shutil.rmtree(folder, ignore_errors=True)

    figures = {}
    rows = []
    for name, got in samples.items():
        page_ms, api_ms = c.median(got["page"]) * 1000, c.median(got["api"]) * 1000
        times = page_ms / api_ms
        figures[name] = {"page_ms": round(page_ms, 2), "api_ms": round(api_ms, 2), "ratio": round(times, 3),
                         "page_whole_ms": round(c.median(got["page_whole"]) * 1000, 2),
                         "api_whole_ms": round(c.median(got["api_whole"]) * 1000, 2),
                         "page_bytes": page_bytes[name], "met": times <= TARGET,
                         "query_ms": plans[name]["execution_ms"], "seq_scan": plans[name]["seq_scan"]}
        rows.append([name, f"{page_ms:.1f}", f"{api_ms:.1f}", f"{times:.2f}x", "yes" if times <= TARGET else "NO",
                     f"{plans[name]['execution_ms']:.2f}" if plans[name]["execution_ms"] is not None else "-",
                     "seq scan" if plans[name]["seq_scan"] else "index"])
    c.print_table(f"first byte, median of {args.rounds} interleaved rounds; {args.sandboxes:,} sandboxes in PostgreSQL "
                  f"(seeded in {seeding.seconds:.1f} s), one server process; target page <= {TARGET:.1f}x API",
                  ["route", "page ms", "API ms", "page/API", "met", "query ms", "plan"], rows)
    if args.plans:
        for name, plan in plans.items():
            print(f"\n{name}:\n  " + "\n  ".join(plan["plan"]))
    seconds = time.perf_counter() - began
    print(f"\nrun time {seconds:.0f} s")
    c.write_json(args.json, {"machine": c.machine(), "postgres": c.postgres_version(), "target": TARGET,
                             "rounds": args.rounds, "sandboxes": args.sandboxes, "figures": figures,
                             "samples": samples, "plans": plans, "seconds": round(seconds, 1)})
    missed = [name for name, figure in figures.items() if not figure["met"]]
    if missed:
        print(f"\nmissed the target ({TARGET:.1f}x): {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
