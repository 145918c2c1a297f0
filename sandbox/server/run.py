"""`sandbox server`: uvicorn serving create_app, one or several worker processes."""

from __future__ import annotations

import os
from typing import Any

from sandbox.config import Settings, load_settings

CONFIG_ENV = "SANDBOX_CONFIG"


def app_from_environment():
    """uvicorn's factory for worker processes: each loads the config the parent named."""
    from sandbox.server.app import create_app

    return create_app(load_settings(os.environ.get(CONFIG_ENV) or None))


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          workers: int | None = None) -> None:
    import uvicorn

    from sandbox.db import check_schema, make_engine
    from sandbox.server.app import create_app

    check_schema(make_engine(settings.database_url()))  # one clear line before binding a port
    server = settings.server
    options: dict[str, Any] = dict(
        host=host or server.host, port=port if port is not None else server.port,
        proxy_headers=True, forwarded_allow_ips=",".join(server.trusted_proxies) or "127.0.0.1",
        log_level="info", log_config=_log_config(), server_header=False)
    workers = workers or server.workers
    if workers > 1:
        if settings.source.endswith(".toml"):
            os.environ[CONFIG_ENV] = os.path.abspath(settings.source)
        create_app(settings)  # fail here, once, on a bad [auth] or missing key
        uvicorn.run("sandbox.server.run:app_from_environment", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def _log_config() -> dict:
    """uvicorn's logging, plus our own loggers (provisioning in the background, sign-in
    problems) through its stderr handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["sandbox"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
