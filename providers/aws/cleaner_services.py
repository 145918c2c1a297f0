"""Cleaner kinds for the regional services other than EC2, and for S3 (see cleaner.py).

FIRST holds CloudFormation: deleting a stack deletes what it made, in the order its
template knows, so it goes before everything else.
"""

from __future__ import annotations

from typing import Any, Iterator

from sandbox.providers.aws.cleaner import Context, Kind, Resource, pages

S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


# -- CloudFormation ----------------------------------------------------------------------------

def list_stacks(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("cloudformation", region)
    for stack in pages(client, "describe_stacks", "Stacks"):  # DELETE_COMPLETE ones are not listed
        if stack.get("ParentId") or stack.get("RootId"):
            continue  # a nested stack goes with its root
        yield Resource("cloudformation:stack", region, stack["StackId"], stack["StackId"],
                       {"protected": bool(stack.get("EnableTerminationProtection"))})


def delete_stack(ctx: Context, r: Resource) -> None:
    client = ctx.client("cloudformation", r.region)
    if r.detail.get("protected"):  # only then: moto 5 has no UpdateTerminationProtection
        client.update_termination_protection(StackName=r.key, EnableTerminationProtection=False)
    client.delete_stack(StackName=r.key)


# -- RDS -------------------------------------------------------------------------------------

def list_db_instances(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("rds", region)
    for db in pages(client, "describe_db_instances", "DBInstances"):
        yield Resource("rds:db", region, db["DBInstanceIdentifier"], db["DBInstanceArn"],
                       {"protected": bool(db.get("DeletionProtection"))})


def delete_db_instance(ctx: Context, r: Resource) -> None:
    client = ctx.client("rds", r.region)
    if r.detail.get("protected"):
        client.modify_db_instance(DBInstanceIdentifier=r.key, DeletionProtection=False, ApplyImmediately=True)
    client.delete_db_instance(DBInstanceIdentifier=r.key, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)


def list_db_clusters(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("rds", region)
    for cluster in pages(client, "describe_db_clusters", "DBClusters"):
        yield Resource("rds:cluster", region, cluster["DBClusterIdentifier"], cluster["DBClusterArn"],
                       {"protected": bool(cluster.get("DeletionProtection"))})


def delete_db_cluster(ctx: Context, r: Resource) -> None:
    client = ctx.client("rds", r.region)
    if r.detail.get("protected"):
        client.modify_db_cluster(DBClusterIdentifier=r.key, DeletionProtection=False, ApplyImmediately=True)
    client.delete_db_cluster(DBClusterIdentifier=r.key, SkipFinalSnapshot=True)


def list_db_snapshots(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("rds", region)
    for snapshot in pages(client, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
        yield Resource("rds:snapshot", region, snapshot["DBSnapshotIdentifier"], snapshot["DBSnapshotArn"])


def delete_db_snapshot(ctx: Context, r: Resource) -> None:
    ctx.client("rds", r.region).delete_db_snapshot(DBSnapshotIdentifier=r.key)


def list_db_cluster_snapshots(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("rds", region)
    for snapshot in pages(client, "describe_db_cluster_snapshots", "DBClusterSnapshots", SnapshotType="manual"):
        yield Resource("rds:cluster-snapshot", region, snapshot["DBClusterSnapshotIdentifier"],
                       snapshot["DBClusterSnapshotArn"])


def delete_db_cluster_snapshot(ctx: Context, r: Resource) -> None:
    ctx.client("rds", r.region).delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=r.key)


# -- functions, tables, repositories -------------------------------------------------------------

def list_functions(ctx: Context, region: str) -> Iterator[Resource]:
    for function in pages(ctx.client("lambda", region), "list_functions", "Functions"):
        yield Resource("lambda:function", region, function["FunctionName"], function["FunctionArn"])


def delete_function(ctx: Context, r: Resource) -> None:
    ctx.client("lambda", r.region).delete_function(FunctionName=r.key)


def list_tables(ctx: Context, region: str) -> Iterator[Resource]:
    for name in pages(ctx.client("dynamodb", region), "list_tables", "TableNames"):
        yield Resource("dynamodb:table", region, name, ctx.arn("dynamodb", region, f"table/{name}"))


def delete_table(ctx: Context, r: Resource) -> None:
    client = ctx.client("dynamodb", r.region)
    if client.describe_table(TableName=r.key)["Table"].get("DeletionProtectionEnabled"):
        client.update_table(TableName=r.key, DeletionProtectionEnabled=False)
    client.delete_table(TableName=r.key)


def list_repositories(ctx: Context, region: str) -> Iterator[Resource]:
    for repository in pages(ctx.client("ecr", region), "describe_repositories", "repositories"):
        yield Resource("ecr:repository", region, repository["repositoryName"], repository["repositoryArn"])


def delete_repository(ctx: Context, r: Resource) -> None:
    ctx.client("ecr", r.region).delete_repository(repositoryName=r.key, force=True)  # images too


# -- S3: one namespace for the account, each bucket deleted in its own region ---------------------

def list_buckets(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("s3", region)
    for bucket in client.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        location = client.get_bucket_location(Bucket=name).get("LocationConstraint")
        # us-east-1 answers None; the long-retired "EU" means eu-west-1.
        where = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        yield Resource("s3", region, name, f"arn:aws:s3:::{name}", {"region": where})


def delete_bucket(ctx: Context, r: Resource) -> None:
    """Every object version and delete marker (governance retention bypassed), unfinished
    multipart uploads, then the bucket."""
    client = ctx.client("s3", r.detail.get("region") or r.region)
    batch: list[dict[str, Any]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=r.key):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            if len(batch) == S3_DELETE_BATCH:
                _delete_objects(client, r.key, batch)
                batch = []
    if batch:
        _delete_objects(client, r.key, batch)
    for upload in pages(client, "list_multipart_uploads", "Uploads", Bucket=r.key):
        client.abort_multipart_upload(Bucket=r.key, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=r.key)


def _delete_objects(client: Any, bucket: str, objects: list[dict[str, Any]]) -> None:
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True},
                                   BypassGovernanceRetention=True)
    errors = answer.get("Errors", [])
    if errors:  # DeleteObjects answers 200 with per-key errors: the bucket delete would fail anyway
        first = errors[0]
        raise RuntimeError(f"{len(errors)} objects of bucket {bucket} not deleted, "
                           f"first {first.get('Key')}: {first.get('Code')}")


# -- messaging, logs, alarms ---------------------------------------------------------------------

def list_topics(ctx: Context, region: str) -> Iterator[Resource]:
    for topic in pages(ctx.client("sns", region), "list_topics", "Topics"):
        yield Resource("sns", region, topic["TopicArn"], topic["TopicArn"])


def delete_topic(ctx: Context, r: Resource) -> None:
    ctx.client("sns", r.region).delete_topic(TopicArn=r.key)


def list_queues(ctx: Context, region: str) -> Iterator[Resource]:
    for url in pages(ctx.client("sqs", region), "list_queues", "QueueUrls"):
        yield Resource("sqs", region, url, ctx.arn("sqs", region, url.rstrip("/").rsplit("/", 1)[-1]))


def delete_queue(ctx: Context, r: Resource) -> None:
    ctx.client("sqs", r.region).delete_queue(QueueUrl=r.key)


def list_log_groups(ctx: Context, region: str) -> Iterator[Resource]:
    for group in pages(ctx.client("logs", region), "describe_log_groups", "logGroups"):
        name = group["logGroupName"]
        yield Resource("logs:log-group", region, name, ctx.arn("logs", region, f"log-group:{name}"))


def delete_log_group(ctx: Context, r: Resource) -> None:
    ctx.client("logs", r.region).delete_log_group(logGroupName=r.key)


def list_alarms(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("cloudwatch", region)
    for page in client.get_paginator("describe_alarms").paginate(AlarmTypes=["CompositeAlarm", "MetricAlarm"]):
        # Composite alarms first: a metric alarm a composite one names cannot be deleted.
        for alarm in [*page.get("CompositeAlarms", []), *page.get("MetricAlarms", [])]:
            yield Resource("cloudwatch:alarm", region, alarm["AlarmName"], alarm["AlarmArn"])


def delete_alarm(ctx: Context, r: Resource) -> None:
    ctx.client("cloudwatch", r.region).delete_alarms(AlarmNames=[r.key])


# -- secrets and keys ------------------------------------------------------------------------------

def list_secrets(ctx: Context, region: str) -> Iterator[Resource]:
    for secret in pages(ctx.client("secretsmanager", region), "list_secrets", "SecretList"):
        yield Resource("secretsmanager:secret", region, secret["ARN"], secret["ARN"])


def delete_secret(ctx: Context, r: Resource) -> None:
    # No recovery window: the next lease must be able to reuse the name.
    ctx.client("secretsmanager", r.region).delete_secret(SecretId=r.key, ForceDeleteWithoutRecovery=True)


def list_keys(ctx: Context, region: str) -> Iterator[Resource]:
    """Customer-managed keys not yet scheduled for deletion: KMS never deletes a key at once
    (7 days at least), so a scheduled key counts as cleaned."""
    client = ctx.client("kms", region)
    for key in pages(client, "list_keys", "Keys"):
        meta = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if _benign_key(meta):
            continue
        yield Resource("kms:key", region, key["KeyId"], meta["Arn"])


def schedule_key_deletion(ctx: Context, r: Resource) -> None:
    client = ctx.client("kms", r.region)
    for alias in pages(client, "list_aliases", "Aliases", KeyId=r.key):
        if not alias["AliasName"].startswith("alias/aws/"):
            client.delete_alias(AliasName=alias["AliasName"])  # the next lease may want the name
    client.schedule_key_deletion(KeyId=r.key, PendingWindowInDays=7)


def _benign_key(meta: dict[str, Any]) -> bool:
    return meta.get("KeyManager") == "AWS" or meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion")


FIRST = [
    Kind("cloudformation:stack", list_stacks, delete_stack, wait=True),
]

KINDS = [
    Kind("rds:db", list_db_instances, delete_db_instance, wait=True),  # before their clusters
    Kind("rds:cluster", list_db_clusters, delete_db_cluster, wait=True),
    Kind("rds:snapshot", list_db_snapshots, delete_db_snapshot),
    Kind("rds:cluster-snapshot", list_db_cluster_snapshots, delete_db_cluster_snapshot),
    Kind("lambda:function", list_functions, delete_function),
    Kind("dynamodb:table", list_tables, delete_table),
    Kind("ecr:repository", list_repositories, delete_repository),
    Kind("s3", list_buckets, delete_bucket, global_=True),
    Kind("sns", list_topics, delete_topic),
    Kind("sqs", list_queues, delete_queue),
    Kind("logs:log-group", list_log_groups, delete_log_group),
    Kind("cloudwatch:alarm", list_alarms, delete_alarm),
    Kind("secretsmanager:secret", list_secrets, delete_secret),
    Kind("kms:key", list_keys, schedule_key_deletion),
]
