"""A local AWS for development and tests: moto's threaded server, with the few
AWS-managed IAM policies our templates attach.

    emulator = AwsEmulator()
    url = emulator.start()          # "http://127.0.0.1:PORT"; point AwsSettings.endpoint_url here
    ...
    emulator.reset()                # POST /moto-api/reset: every backend empty again
    emulator.stop()

`sandbox emulator aws --port N` runs `serve_forever` in the foreground. Any static keys
work against it (the provider falls back to "testing"/"testing" when none resolve).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from typing import Any, Iterable

log = logging.getLogger("sandbox.aws.emulator")

# The AWS-managed policies templates/aws-*.toml attach (plus ReadOnlyAccess, a common
# choice for a custom template). Extend the list when a template needs another.
MANAGED_POLICIES = (
    "AdministratorAccess",
    "PowerUserAccess",
    "IAMReadOnlyAccess",
    "ReadOnlyAccess",
)

_selected: set[str] = set()
_lock = threading.Lock()


def load_managed_policies(names: Iterable[str] = MANAGED_POLICIES) -> None:
    """Make moto create these AWS-managed policies (and only these) in every account.

    Why: moto leaves arn:aws:iam::aws:policy/... out unless MOTO_IAM_LOAD_MANAGED_POLICIES
    is true, and then every IAMBackend (one per account, created on the account's first
    IAM call) parses the whole 4.7 MB catalogue in moto/iam/aws_managed_policies.py and
    builds ~1,600 policy objects: about a second and tens of MB per member account.
    IAMBackend._init_aws_policies reads the module global `aws_managed_policies_data` of
    moto.iam.models on every call, so replacing that global with the few entries we use
    keeps real AWS documents and ARNs while a new account costs microseconds.

    This is process-wide (the threaded server runs in this process): any in-process moto
    here sees the same reduced catalogue. Call it before the first IAM call.
    """
    from moto.iam import aws_managed_policies, models as iam_models

    with _lock:
        catalogue = json.loads(aws_managed_policies.aws_managed_policies_data)
        unknown = sorted(set(names) - set(catalogue))
        if unknown:
            raise ValueError(f"moto knows no AWS-managed policy named {', '.join(unknown)}")
        _selected.update(names)
        iam_models.aws_managed_policies_data = json.dumps(
            {name: catalogue[name] for name in sorted(_selected)}
        )
        # Read by moto.settings.load_iam_aws_managed_policies() at each backend creation.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


# AWS's default of Organizations' account quota, which moto's Service Quotas does not know.
ACCOUNT_QUOTA = {"ServiceCode": "organizations", "ServiceName": "AWS Organizations", "QuotaCode": "L-29A0C5DF",
                 "QuotaArn": "arn:aws:servicequotas:us-east-1::organizations/L-29A0C5DF",
                 "QuotaName": "Default maximum number of accounts", "Value": 10.0, "Unit": "None",
                 "Adjustable": True, "GlobalQuota": True}


def add_default_quotas() -> None:
    """Answer GetAWSDefaultServiceQuota for the account quota as AWS does (moto answers 500
    NotImplemented, which botocore retries for seconds before the pool falls back to the
    same documented 10). GetServiceQuota stays moto's: no applied value, as in an
    organization that never asked for an increase."""
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.responses import ServiceQuotasResponse

    def get_aws_default_service_quota(self: Any) -> str:
        params = json.loads(self.body)
        if (params.get("ServiceCode"), params.get("QuotaCode")) != ("organizations", "L-29A0C5DF"):
            raise NoSuchResource
        return json.dumps({"Quota": ACCOUNT_QUOTA})

    if not hasattr(ServiceQuotasResponse, "get_aws_default_service_quota"):  # moto may learn it
        setattr(ServiceQuotasResponse, "get_aws_default_service_quota", get_aws_default_service_quota)


class AwsEmulator:
    """moto's ThreadedMotoServer on a local port, with our managed policies loaded."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 managed_policies: Iterable[str] = MANAGED_POLICIES):
        self.host = host
        self.port = port
        self.managed_policies = tuple(managed_policies)
        self._server: Any = None
        self.url = ""

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        load_managed_policies(self.managed_policies)
        add_default_quotas()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.port = port
        self.url = f"http://{host}:{port}"
        log.info("event=emulator_started url=%s", self.url)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            log.info("event=emulator_stopped url=%s", self.url)

    def reset(self) -> None:
        """Forget every account, OU, user, budget and queued Cost Explorer result."""
        self._post("/moto-api/reset", None)

    def queue_cost_and_usage(self, management_account: str, results: list[dict[str, Any]]) -> None:
        """Queue GetCostAndUsage answers (moto tracks no spend). Each distinct request
        body takes the next queued result; an identical request gets the same one again."""
        self._post("/moto-api/static/ce/cost-and-usage-results",
                   {"account_id": management_account, "results": results})

    def _post(self, path: str, body: dict[str, Any] | None) -> None:
        if not self.url:
            raise RuntimeError("AwsEmulator is not started")
        data = b"" if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> "AwsEmulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Run the emulator in the foreground until Ctrl-C (for `sandbox emulator aws`)."""
    from importlib.util import find_spec

    from sandbox.errors import ConfigError

    if find_spec("moto") is None:
        raise ConfigError("the AWS emulator needs moto: pip install 'sandbox-cloud[emulators]'")
    emulator = AwsEmulator(host, port)
    url = emulator.start()
    print(f"AWS emulator (moto) listening on {url}", flush=True)
    print(f'  set [aws] endpoint_url = "{url}" in sandbox.toml; Ctrl-C stops it', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
