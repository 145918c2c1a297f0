"""Benchmark: the AWS account pool (issue 15), against moto with 50 ms per cloud call.

    .venv/bin/python bench/pool_bench.py [--latency-ms 50] [--create-seconds 60] [--poll-seconds 5]
                                         [--pool-runs 3] [--create-runs 2] [--sizes 100,1000]
                                         [--db postgresql|sqlite] [--quick] [--json FILE]

1. Request to active with credentials, for an aws-individual sandbox: from a ready pool
   against creating its account. Each sample is request_sandbox, then provision_sandbox
   with the sandbox's lease as the provisioning sweep runs it, then get_credentials (the
   password and access key the owner reads): the time a user waits. The pool is set up as
   make_app's tests set it ([aws.pool] min_ready = max_size = --pool-runs, regions
   ["us-east-1"], cleanup_passes 2) and filled first, outside the timed part, by the
   service's refill and two clean passes per account (sandbox.service.pool refill,
   claim_for_cleaning, clean_account, what the pool job runs). The create path is a
   second app on the same database and cloud with no [aws.pool] and the template's
   account_source = "create". CreateAccount takes --create-seconds to turn SUCCEEDED
   (the proxy's create_account_seconds knob, bench/_clouds.py; minutes in AWS, instant in
   moto) and is polled every --poll-seconds ([aws] poll_seconds, default 5 s as shipped):
   the create path is the one that waits for it. Target: pool path <= 0.1x the create path
   (medians).
2. The in-account cleaner (providers/aws/cleaner.py, through AwsProvider.pool_clean as the
   pool job calls it: account_cleaner on the access role, [aws.pool] regions) over one
   member account holding 0, 100, 1,000 and again 100 resources (fresh accounts; order
   100, 1,000, 100 so drifting load weighs on both sizes; the two 100s averaged) made
   through the access role with no latency: SQS queues, SNS topics, IAM customer policies,
   security groups (default VPC) and S3 buckets, a fifth each. Before that an untimed dry
   run, as moto builds a service's backend for an account on its first call there (EC2's
   takes seconds), which AWS does not. One pass each, timed with the latency on, and its
   API calls counted by action. Linear means time = fixed + resources x per-resource
   cost: the targets are the time and the calls per resource at 1,000 within 1.3x of
   those at 100, both counted beyond the empty account's pass (the fixed cost of listing
   every kind once before and once after the deletes; the raw figures are shown beside).

Exit status 1 when a target is missed. --quick: 2 pool runs, 1 create run with
--create-seconds 20, sizes 50,500 (the targets still apply).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
from _clouds import CloudProcess  # noqa: E402

POOL_TARGET = 0.1  # pool path / create path, at most
SPREAD = 1.3  # time and calls per resource beyond the empty pass: at most this ratio between sizes
REGION = "us-east-1"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
KINDS = ("sqs", "sns", "iam:policy", "ec2:security-group", "s3")


# -- 1. request to active with credentials ------------------------------------------------------

def create_templates(tmp: Path) -> Path:
    """aws-individual as shipped, with account_source = "create" (found before the built-in)."""
    from sandbox.config import BUILTIN_TEMPLATES

    text = (Path(BUILTIN_TEMPLATES) / "aws-individual.toml").read_text()
    assert 'account_source = "pool"' in text, "aws-individual.toml no longer names its account source"
    folder = tmp / "templates-create"
    folder.mkdir()
    (folder / "aws-individual.toml").write_text(text.replace('account_source = "pool"', 'account_source = "create"'))
    return folder


def fill_pool(app: Any) -> list[str]:
    """What the pool job does, until min_ready accounts are ready (no latency: not timed)."""
    from sandbox.service.pool import READY, claim_for_cleaning, clean_account, list_pool, refill

    refill(app, "aws")
    for row in claim_for_cleaning(app, "aws"):
        clean_account(app, row)
    from sandbox.config import Identity

    rows = list_pool(app, Identity("admin@example.com", "engineering", is_admin=True))
    ready = [r["cloud_id"] for r in rows if r["state"] == READY]
    if len(ready) != app.settings.clouds["aws"].pool.min_ready:
        raise SystemExit(f"pool not filled: {[(r['cloud_id'], r['state'], r['reason']) for r in rows]}")
    return ready


def to_active(app: Any, aws: CloudProcess, owner: str) -> dict[str, Any]:
    """One sandbox from request to its owner holding credentials, as the daemon runs it."""
    from sandbox.config import Identity
    from sandbox.service import get_credentials, provision_sandbox, request_sandbox
    from sandbox.service.steps import claim, release
    from sandbox.sweeps.common import ACTOR

    identity = Identity(owner, "engineering")
    aws.reset_counts()
    with c.Stopwatch() as watch:
        sandbox_id = request_sandbox(app, identity, "aws-individual")["id"]
        lease = claim(app, sandbox_id)
        assert lease is not None
        try:
            view = provision_sandbox(app, sandbox_id, actor=ACTOR, lease=lease)
        finally:
            release(app, lease)
        credentials = get_credentials(app, identity, sandbox_id)
    by_action = aws.by_action()
    if view.get("state") != "active" or not credentials.get("access_key_id") or not credentials.get("password"):
        raise SystemExit(f"{owner}: not active with credentials: {view.get('state')} {view.get('last_error')}")
    return {"sandbox_id": sandbox_id, "account_id": view["cloud_id"], "seconds": round(watch.seconds, 3),
            "cloud_requests": sum(by_action.values()),
            "create_status_polls": sum(n for a, n in by_action.items() if a.endswith("DescribeCreateAccountStatus")),
            "by_action": by_action}


def path_summary(name: str, runs: list[dict]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {"path": name, "runs": len(runs), "median_seconds": round(c.median(seconds), 3),
            "min_seconds": min(seconds), "max_seconds": max(seconds),
            "cloud_requests": _whole(c.median(r["cloud_requests"] for r in runs)),
            "create_status_polls": _whole(c.median(r["create_status_polls"] for r in runs)), "samples": runs}


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 1)


# -- 2. the cleaner ------------------------------------------------------------------------------

class Member:
    """boto3 in one member account through the access role (a sandbox user's view)."""

    def __init__(self, url: str, account_id: str):
        import boto3

        sts = boto3.client("sts", endpoint_url=url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                                RoleSessionName="bench-user")["Credentials"]
        self.url = url
        self.keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                     "aws_session_token": creds["SessionToken"]}

    def __call__(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **self.keys)


def make_resources(member: Member, account_id: str, count: int) -> dict[str, int]:
    """`count` cheap resources, the KINDS in turn."""
    sqs, sns, iam, ec2, s3 = (member(s) for s in ("sqs", "sns", "iam", "ec2", "s3"))
    made = dict.fromkeys(KINDS, 0)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        name = f"bench-{i:05d}"
        if kind == "sqs":
            sqs.create_queue(QueueName=name)
        elif kind == "sns":
            sns.create_topic(Name=name)
        elif kind == "iam:policy":
            iam.create_policy(PolicyName=name, PolicyDocument=POLICY)
        elif kind == "ec2:security-group":
            ec2.create_security_group(GroupName=name, Description="bench")
        else:
            s3.create_bucket(Bucket=f"{name}-{account_id}")
        made[kind] += 1
    return made


def new_account(org: Any, name: str) -> str:
    status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status  # the create_account_seconds knob is off here
    return status["AccountId"]


def clean_one(app: Any, aws: CloudProcess, org: Any, size: int, n: int, latency_ms: int) -> dict[str, Any]:
    aws.set_latency(0)
    account_id = new_account(org, f"bench-clean-{n}-{size}")
    provider = app.provider("aws")
    # A dry run first, not timed: moto builds each service's backend for an account and
    # region on its first call there (EC2's loads its AMIs: seconds), which a cloud does not.
    provider.pool_clean(account_id, dry_run=True)
    made = make_resources(Member(aws.url, account_id), account_id, size)
    aws.set_latency(latency_ms)
    aws.reset_counts()
    cloud_cpu = aws.cpu_seconds()
    with c.Stopwatch() as watch:
        report = provider.pool_clean(account_id)
    cloud_cpu = aws.cpu_seconds() - cloud_cpu
    by_action = aws.by_action()
    aws.set_latency(0)
    if not report["clean"] or len(report["deleted"]) != size:
        raise SystemExit(f"clean of {size} resources: {len(report['deleted'])} deleted, "
                         f"failed {dict(list(report['failed'].items())[:5])}, left {report['left'][:5]}")
    return {"resources": size, "made": made, "account_id": account_id, "seconds": round(watch.seconds, 3),
            "calls": sum(by_action.values()), "cloud_cpu_seconds": round(cloud_cpu, 2), "by_action": by_action}


def mean_run(runs: list[dict]) -> dict[str, Any]:
    """Two runs of one size as one: mean seconds and calls, both kept."""
    if len(runs) == 1:
        return runs[0]
    return {"resources": runs[0]["resources"], "seconds": round(sum(r["seconds"] for r in runs) / len(runs), 3),
            "calls": round(sum(r["calls"] for r in runs) / len(runs), 1),
            "cloud_cpu_seconds": round(sum(r["cloud_cpu_seconds"] for r in runs) / len(runs), 2), "runs": runs}


# -- main ------------------------------------------------------------------------------------------

def within(ratio: float | None) -> bool:
    return ratio is not None and 1 / SPREAD <= ratio <= SPREAD


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=int, default=50, help="added to every cloud call (default 50)")
    parser.add_argument("--create-seconds", type=float, default=60.0,
                        help="CreateAccount's time to SUCCEEDED (default 60)")
    parser.add_argument("--poll-seconds", type=float, default=None,
                        help="[aws] poll_seconds, the DescribeCreateAccountStatus interval "
                             "(default: the shipped AwsSettings default, 5)")
    parser.add_argument("--pool-runs", type=int, default=3, help="sandboxes from the pool (= min_ready)")
    parser.add_argument("--create-runs", type=int, default=2, help="sandboxes that create their account")
    parser.add_argument("--sizes", default="100,1000", help="resources in the cleaned account: small,large")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--skip", choices=["lease", "clean"], help="leave one part out")
    parser.add_argument("--quick", action="store_true", help="2 pool runs, 1 create run of 20 s, sizes 50,500")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    from sandbox.providers.aws.settings import AwsSettings

    poll_seconds = args.poll_seconds if args.poll_seconds is not None else AwsSettings().poll_seconds
    if args.quick:
        args.pool_runs, args.create_runs, args.create_seconds, args.sizes = 2, 1, min(args.create_seconds, 20), "50,500"
    small, large = (int(s) for s in args.sizes.split(","))

    import boto3

    from sandbox.config import Identity
    from sandbox.service import bootstrap, build_app

    doc: dict[str, Any] = {"benchmark": "pool_bench", "latency_ms": args.latency_ms,
                           "create_account_seconds": args.create_seconds, "poll_seconds": poll_seconds}
    misses: list[str] = []
    with CloudProcess.start("aws") as aws, tempfile.TemporaryDirectory(prefix="sandbox-bench-pool-") as tmp_name:
        tmp = Path(tmp_name)
        if args.db == "postgresql":
            database = c.postgres_database()
            url = database.__enter__()
        else:
            database, url = None, c.sqlite_database(tmp / "sandbox.db")
        apps: list[Any] = []
        try:
            pool = {"min_ready": args.pool_runs, "max_size": args.pool_runs, "regions": [REGION],
                    "cleanup_passes": 2}
            pool_app = build_app(c.bench_settings(url, aws.url, aws={"poll_seconds": poll_seconds, "pool": pool}))
            create_app = build_app(c.bench_settings(url, aws.url, aws={"poll_seconds": poll_seconds},
                                                    templates={"dirs": [str(create_templates(tmp))]}))
            apps += [pool_app, create_app]
            bootstrap(pool_app, Identity("admin@example.com", "engineering", is_admin=True), ["aws"])

            if args.skip != "lease":
                print(f"filling the pool: {args.pool_runs} accounts, 2 clean passes each...", flush=True)
                with c.Stopwatch() as fill:
                    ready = fill_pool(pool_app)
                aws.set_latency(args.latency_ms)
                aws.set_create_account_seconds(args.create_seconds)
                pooled, created = [], []
                for i in range(args.pool_runs):
                    print(f"pool path {i + 1}/{args.pool_runs}...", flush=True)
                    pooled.append(to_active(pool_app, aws, f"pooled{i:02d}@example.com"))
                    assert pooled[-1]["account_id"] in ready, "the pool path did not lease a ready account"
                for i in range(args.create_runs):
                    print(f"create path {i + 1}/{args.create_runs} (CreateAccount {args.create_seconds:g} s, "
                          f"polled every {poll_seconds:g} s)...", flush=True)
                    created.append(to_active(create_app, aws, f"created{i:02d}@example.com"))
                    assert created[-1]["account_id"] not in ready
                aws.set_create_account_seconds(0)
                aws.set_latency(0)
                lease = {"pool": path_summary("pool (ready account leased)", pooled),
                         "create": path_summary("create (CreateAccount, no pool)", created),
                         "fill_seconds": round(fill.seconds, 1)}
                lease["ratio"] = c.ratio(lease["pool"]["median_seconds"], lease["create"]["median_seconds"])
                lease["met"] = lease["ratio"] is not None and lease["ratio"] <= POOL_TARGET
                doc["lease"] = lease

            if args.skip != "clean":
                org = boto3.client("organizations", endpoint_url=aws.url, region_name=REGION,
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
                cleans = []
                for n, size in enumerate([0, small, large, small]):
                    print(f"cleaner: {size} resources...", flush=True)
                    cleans.append(clean_one(pool_app, aws, org, size, n, args.latency_ms))
                empty = cleans[0]
                sized = {small: mean_run([r for r in cleans if r["resources"] == small]),
                         large: mean_run([r for r in cleans if r["resources"] == large])}
                for run in sized.values():
                    n = run["resources"]
                    run["calls_per_resource"] = round(run["calls"] / n, 3)
                    run["net_calls_per_resource"] = round((run["calls"] - empty["calls"]) / n, 3)
                    run["ms_per_resource"] = round(run["seconds"] / n * 1000, 1)
                    run["net_ms_per_resource"] = round((run["seconds"] - empty["seconds"]) / n * 1000, 1)
                time_ratio = c.ratio(sized[large]["seconds"], sized[small]["seconds"])
                net_time_ratio = c.ratio(sized[large]["seconds"] - empty["seconds"],
                                         sized[small]["seconds"] - empty["seconds"])
                calls_ratio = c.ratio(sized[large]["net_calls_per_resource"], sized[small]["net_calls_per_resource"])
                raw_calls_ratio = c.ratio(sized[small]["calls_per_resource"], sized[large]["calls_per_resource"])
                per_resource_ratio = c.ratio(sized[large]["net_ms_per_resource"], sized[small]["net_ms_per_resource"])
                doc["cleaner"] = {
                    "empty": empty, "small": sized[small], "large": sized[large], "runs": cleans,
                    "time_ratio": time_ratio, "net_time_ratio": net_time_ratio,
                    "net_ms_per_resource_ratio": per_resource_ratio, "time_met": within(per_resource_ratio),
                    "net_calls_ratio": calls_ratio, "raw_calls_ratio_small_over_large": raw_calls_ratio,
                    "calls_met": within(calls_ratio)}
        finally:
            for app in apps:
                app.engine.dispose()
            if database is not None:
                database.__exit__(None, None, None)

    db_name = "PostgreSQL " + c.postgres_version() if args.db == "postgresql" else "SQLite"
    doc.update(machine=c.machine(), database=db_name,
               targets={"pool_over_create_at_most": POOL_TARGET, "per_resource_spread": SPREAD})
    if "lease" in doc:
        lease = doc["lease"]
        c.print_table(f"Request to active with credentials, aws-individual, {args.latency_ms} ms per call, "
                      f"CreateAccount {args.create_seconds:g} s, polled every {poll_seconds:g} s, {db_name}",
                      ["path", "runs", "median s", "min s", "max s", "cloud calls", "status polls"],
                      [[p["path"], p["runs"], p["median_seconds"], p["min_seconds"], p["max_seconds"],
                        p["cloud_requests"], p["create_status_polls"]] for p in (lease["pool"], lease["create"])])
        verdict = "met" if lease["met"] else "MISSED"
        print(f"pool / create: {lease['ratio']}× (target <= {POOL_TARGET}×): {verdict}"
              f"   (filling the pool, not timed above: {lease['fill_seconds']} s)")
        if not lease["met"]:
            misses.append("pool path")
    if "cleaner" in doc:
        cl = doc["cleaner"]
        rows = [[0, cl["empty"]["seconds"], cl["empty"]["calls"], "-", "-", "-", "-", cl["empty"]["cloud_cpu_seconds"]]]
        for run in (cl["small"], cl["large"]):
            rows.append([run["resources"], run["seconds"], run["calls"], run["calls_per_resource"],
                         run["net_calls_per_resource"], run["ms_per_resource"], run["net_ms_per_resource"],
                         run["cloud_cpu_seconds"]])
        c.print_table(f"The cleaner, one pass over one member account ({REGION}), {args.latency_ms} ms per call "
                      f"({'/'.join(KINDS)} mixed)",
                      ["resources", "seconds", "calls", "calls/res", "net calls/res", "ms/res", "net ms/res",
                       "moto cpu s"], rows)
        print("net: beyond the empty account's pass (every kind listed before and after the deletes, "
              f"{cl['empty']['calls']} calls)")
        print(f"net time per resource {large} / {small}: {cl['net_ms_per_resource_ratio']}× (target within {SPREAD}×): "
              f"{'met' if cl['time_met'] else 'MISSED'}   (raw time {large} / {small}: {cl['time_ratio']}×, "
              f"net: {cl['net_time_ratio']}×)")
        print(f"net calls per resource {large} / {small}: {cl['net_calls_ratio']}× (target within {SPREAD}×): "
              f"{'met' if cl['calls_met'] else 'MISSED'}   (raw calls/res {small} / {large}: "
              f"{cl['raw_calls_ratio_small_over_large']}×)")
        grown = {a: n for a, n in cl["large"]["by_action"].items() if n != cl["empty"]["by_action"].get(a)}
        print(f"calls at {large} beyond the empty pass's: " + ", ".join(
            f"{a.rsplit('.', 1)[-1]} {n - cl['empty']['by_action'].get(a, 0)}"
            for a, n in sorted(grown.items(), key=lambda item: -item[1])) + "  (other: S3, REST)")
        if not cl["time_met"]:
            misses.append("cleaner time")
        if not cl["calls_met"]:
            misses.append("cleaner calls")
    doc["missed"] = misses
    c.write_json(args.json, doc)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
