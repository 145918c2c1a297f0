"""The in-account cleaner against moto over HTTP: real resources of every covered type in
two regions of a member account, made through the access role as a sandbox's user would,
then cleaned; assertions read what moto still holds. A delete AWS refuses is injected on
the wire (tests.faults.proxies.AwsFaultProxy). Nothing is mocked."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from sandbox.providers.aws.calls import AwsClients
from sandbox.providers.aws.cleaner import DEFAULT_PROTECTED_ROLES, account_cleaner, arn_type
from sandbox.providers.aws.settings import AwsSettings

REGIONS = ("us-east-1", "eu-west-1")
PROTECTED = ("OrganizationAccountAccessRole", "AWSReservedSSO_Admin_0123", "aws-controltower-Exec",
             "stacksets-exec-42")
STACK_TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                                     "Properties": {"TopicName": "from-stack"}}}})
ASSUME_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                            "Resource": "*"}]})
TAGS = [{"Key": "owner", "Value": "alice"}]


class Member:
    """boto3 in one member account through the access role: the sandbox user's view."""

    def __init__(self, url: str, account_id: str):
        sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                                RoleSessionName="user")["Credentials"]
        self.url, self.account_id = url, account_id
        self.keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                     "aws_session_token": creds["SessionToken"]}

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region, **self.keys)


@pytest.fixture
def account(aws_admin) -> str:
    aws_admin.org.create_organization(FeatureSet="ALL")
    status = aws_admin.org.create_account(Email="pool-1@example.com", AccountName="pool-1")
    return status["CreateAccountStatus"]["AccountId"]


@pytest.fixture
def member(aws_url, account) -> Member:
    return Member(aws_url, account)


def cleaner_for(settings: AwsSettings, account: str, regions=REGIONS):
    return account_cleaner(AwsClients(settings), account, regions, DEFAULT_PROTECTED_ROLES,
                           poll_seconds=0.01, wait_seconds=5)


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


# -- arranging: one of every covered type ------------------------------------------------------

def make_iam(member: Member) -> None:
    iam = member("iam")
    for role in PROTECTED[1:]:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=ASSUME_EC2)
    kept_policy = iam.create_policy(PolicyName="sso-admin", PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="AWSReservedSSO_Admin_0123", PolicyArn=kept_policy)

    policy = iam.create_policy(PolicyName="app", PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=policy, PolicyDocument=POLICY, SetAsDefault=True)
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=ASSUME_EC2, Tags=TAGS)
    iam.attach_role_policy(RoleName="app-role", PolicyArn=policy)
    iam.put_role_policy(RoleName="app-role", PolicyName="inline", PolicyDocument=POLICY)
    iam.create_instance_profile(InstanceProfileName="app-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="app-profile", RoleName="app-role")
    iam.create_group(GroupName="devs")
    iam.attach_group_policy(GroupName="devs", PolicyArn=policy)
    iam.put_group_policy(GroupName="devs", PolicyName="inline", PolicyDocument=POLICY)
    iam.create_user(UserName="carol", Tags=TAGS)
    iam.add_user_to_group(GroupName="devs", UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn=policy)
    iam.put_user_policy(UserName="carol", PolicyName="inline", PolicyDocument=POLICY)
    iam.create_login_profile(UserName="carol", Password="Secret-Passw0rd!")
    iam.create_access_key(UserName="carol")


def make_region(member: Member, region: str) -> dict[str, str]:
    """Every regional type; returns a few ids the assertions look up."""
    ec2 = member("ec2", region)
    az = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for i, zone in enumerate(az)]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnets[0])
    web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    for one, other in ((web, db), (db, web)):  # a cycle: neither can go first
        ec2.authorize_security_group_ingress(GroupId=one, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": other}]}])
    nat_ip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=nat_ip)
    ec2.create_network_interface(SubnetId=subnets[1], Groups=[web])
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.s3", VpcEndpointType="Gateway",
                            RouteTableIds=[table])  # holds a route in the table
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.sqs", VpcEndpointType="Interface",
                            SubnetIds=[subnets[1]], SecurityGroupIds=[web],  # holds an interface
                            TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": TAGS}])
    peer = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering["VpcPeeringConnectionId"])
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.2.0.0/16",
                     VpcPeeringConnectionId=peering["VpcPeeringConnectionId"])
    acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "network-acl", "Tags": TAGS}])["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="deny", Egress=False,
                                 CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22})
    held = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnets[1]]}])
    association = next(a["NetworkAclAssociationId"] for a in held["NetworkAcls"][0]["Associations"]
                       if a["SubnetId"] == subnets[1])
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)  # holds a subnet
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_network_acl(VpcId=default_vpc)  # goes, though the default VPC stays

    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 SubnetId=subnets[0], SecurityGroupIds=[web], DisableApiTermination=True,
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}],
                                 )["Instances"][0]["InstanceId"]
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=address, InstanceId=instance)
    volume = ec2.create_volume(AvailabilityZone=az[0], Size=8, TagSpecifications=[
        {"ResourceType": "volume", "Tags": TAGS}])["VolumeId"]
    ec2.create_snapshot(VolumeId=volume)
    ec2.create_image(InstanceId=instance, Name="app-image")
    classic = member("elb", region)
    classic.create_load_balancer(LoadBalancerName="classic", Subnets=[subnets[0]], SecurityGroups=[web], Tags=TAGS,
                                 Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}])
    classic.register_instances_with_load_balancer(LoadBalancerName="classic", Instances=[{"InstanceId": instance}])
    template = ec2.create_launch_template(LaunchTemplateName="app", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    member("autoscaling", region).create_auto_scaling_group(
        AutoScalingGroupName="app", MinSize=1, MaxSize=2, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template}, VPCZoneIdentifier=subnets[1])
    autoscaling = member("autoscaling", region)
    autoscaling.create_launch_configuration(LaunchConfigurationName="legacy", ImageId=image, InstanceType="t3.micro")
    autoscaling.create_auto_scaling_group(  # the configuration is in use until the group goes
        AutoScalingGroupName="legacy", MinSize=1, MaxSize=1, DesiredCapacity=1, LaunchConfigurationName="legacy",
        VPCZoneIdentifier=subnets[0], LoadBalancerNames=["classic"])

    elb = member("elbv2", region)
    lb = elb.create_load_balancer(Name="app", Subnets=subnets, SecurityGroups=[web])["LoadBalancers"][0]
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    group = elb.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])

    s3 = member("s3", region)
    bucket = f"data-{member.account_id}-{region}"
    create = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **create)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": TAGS})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="report.csv", Body=body)
    s3.delete_object(Bucket=bucket, Key="report.csv")  # a delete marker over two versions

    member("lambda", region).create_function(
        FunctionName="app", Runtime="python3.12", Role=f"arn:aws:iam::{member.account_id}:role/app-role",
        Handler="handler.handler", Code={"ZipFile": lambda_zip()}, Tags={"owner": "alice"})
    member("dynamodb", region).create_table(
        TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True, Tags=TAGS)
    rds = member("rds", region)
    rds.create_db_instance(DBInstanceIdentifier="app-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="Secret-Passw0rd",
                           DeletionProtection=True, Tags=TAGS)
    rds.create_db_snapshot(DBInstanceIdentifier="app-db", DBSnapshotIdentifier="app-db-snap")
    rds.create_db_cluster(DBClusterIdentifier="app-cluster", Engine="aurora-postgresql", MasterUsername="admin",
                          MasterUserPassword="Secret-Passw0rd", DeletionProtection=True)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="app-cluster", DBClusterSnapshotIdentifier="app-cluster-snap")

    # Not EnableTerminationProtection: moto 5 records it but cannot turn it off again.
    member("cloudformation", region).create_stack(StackName="app", TemplateBody=STACK_TEMPLATE)
    member("sns", region).create_topic(Name="alerts", Tags=TAGS)
    member("sqs", region).create_queue(QueueName="jobs", tags={"owner": "alice"})
    member("logs", region).create_log_group(logGroupName="/app/web", tags={"owner": "alice"})
    member("cloudwatch", region).put_metric_alarm(
        AlarmName="cpu", MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold")
    member("ecr", region).create_repository(repositoryName="app")
    member("secretsmanager", region).create_secret(Name="db-password", SecretString="hunter2", Tags=TAGS)
    kms = member("kms", region)
    key = kms.create_key(Tags=[{"TagKey": "owner", "TagValue": "alice"}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    return {"vpc": vpc, "peer": peer, "instance": instance, "key": key, "bucket": bucket}


# -- what moto still holds ----------------------------------------------------------------------------

def holdings(member: Member, region: str) -> dict[str, list[str]]:
    """Everything of the covered types a user could have left, by type (defaults excluded)."""
    ec2 = member("ec2", region)
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]}
    kms = member("kms", region)
    rds, elb, autoscaling = member("rds", region), member("elbv2", region), member("autoscaling", region)
    terminated = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                  if i["State"]["Name"] == "terminated"}
    found = {
        "instances": [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                      if i["State"]["Name"] != "terminated"],
        "launch_templates": [t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]],
        "volumes": [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]],
        "snapshots": [s["SnapshotId"] for s in ec2.describe_snapshots(
            Filters=[{"Name": "owner-id", "Values": [member.account_id]}])["Snapshots"]],
        "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]],
        "addresses": [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]],
        # moto keeps a terminated instance's primary interface (AWS deletes it with the instance).
        "enis": [n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]
                 if (n.get("Attachment") or {}).get("InstanceId") not in terminated],
        "nat_gateways": [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
                         if n["State"] != "deleted"],
        "internet_gateways": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]
                              if not {a["VpcId"] for a in g["Attachments"]} & default_vpcs],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if not s["DefaultForAz"]],
        "route_tables": [t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]
                         if t["VpcId"] not in default_vpcs],
        "security_groups": [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]
                            if g["VpcId"] not in default_vpcs],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]],
        # (AWS, as moto, lists a deleted endpoint or peering connection a while, in state "deleted")
        "vpc_endpoints": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                          if e["State"].lower() != "deleted"],
        "peering_connections": [p["VpcPeeringConnectionId"] for p in
                                ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
                                if p["Status"]["Code"] not in ("deleted", "rejected", "failed", "expired")],
        # A VPC's default ACL goes with it (moto keeps it after the VPC, AWS does not).
        "network_acls": [a["NetworkAclId"] for a in ec2.describe_network_acls()["NetworkAcls"] if not a["IsDefault"]],
        "auto_scaling_groups": [g["AutoScalingGroupName"] for g in
                                autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]],
        "launch_configurations": [c["LaunchConfigurationName"] for c in
                                  autoscaling.describe_launch_configurations()["LaunchConfigurations"]],
        "load_balancers": [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]],
        "classic_load_balancers": [lb["LoadBalancerName"] for lb in
                                   member("elb", region).describe_load_balancers()["LoadBalancerDescriptions"]],
        "target_groups": [g["TargetGroupName"] for g in elb.describe_target_groups()["TargetGroups"]],
        "functions": [f["FunctionName"] for f in member("lambda", region).list_functions()["Functions"]],
        "tables": member("dynamodb", region).list_tables()["TableNames"],
        "db_instances": [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]],
        "db_clusters": [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]],
        "db_snapshots": [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]],
        "db_cluster_snapshots": [s["DBClusterSnapshotIdentifier"] for s in
                                 rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]],
        # (moto keeps a deleted cluster's automated snapshot; AWS deletes it with the cluster)
        "stacks": [s["StackName"] for s in member("cloudformation", region).describe_stacks()["Stacks"]],
        "topics": [t["TopicArn"] for t in member("sns", region).list_topics()["Topics"]],
        "queues": member("sqs", region).list_queues().get("QueueUrls", []),
        "log_groups": [g["logGroupName"] for g in member("logs", region).describe_log_groups()["logGroups"]],
        "alarms": [a["AlarmName"] for a in member("cloudwatch", region).describe_alarms()["MetricAlarms"]],
        "repositories": [r["repositoryName"] for r in member("ecr", region).describe_repositories()["repositories"]],
        "secrets": [s["Name"] for s in member("secretsmanager", region).list_secrets()["SecretList"]],
        "live_keys": [k["KeyId"] for k in kms.list_keys()["Keys"]
                      if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"],
        "aliases": [a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")],
    }
    if region == REGIONS[0]:
        iam = member("iam")
        found["buckets"] = [b["Name"] for b in member("s3").list_buckets()["Buckets"]]
        found["roles"] = sorted(r["RoleName"] for r in iam.list_roles()["Roles"])
        found["users"] = [u["UserName"] for u in iam.list_users()["Users"]]
        found["groups"] = [g["GroupName"] for g in iam.list_groups()["Groups"]]
        found["policies"] = sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"])
        found["instance_profiles"] = [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    return found


def nonempty(found: dict[str, list[str]]) -> dict[str, list[str]]:
    return {kind: items for kind, items in found.items() if items}


@pytest.fixture
def filled(member) -> dict[str, dict[str, str]]:
    make_iam(member)
    made = {region: make_region(member, region) for region in REGIONS}
    # Across regions, left pending acceptance: listed in both, deleted once, by its requester.
    member("ec2", REGIONS[0]).create_vpc_peering_connection(
        VpcId=made[REGIONS[0]]["peer"], PeerVpcId=made[REGIONS[1]]["vpc"], PeerRegion=REGIONS[1])
    return made


# -- the tests ------------------------------------------------------------------------------------------

def test_a_dry_run_names_everything_then_a_pass_deletes_it_all_but_the_protected_roles(
        aws_settings, account, member, filled):
    before = {region: holdings(member, region) for region in REGIONS}
    assert {"instances", "stacks", "db_clusters", "buckets", "users"} <= set(nonempty(before["us-east-1"]))
    for region in REGIONS:  # the arranging made them (so a kind the cleaner skips fails below)
        assert {"classic_load_balancers", "launch_configurations", "vpc_endpoints", "peering_connections",
                "network_acls"} <= set(nonempty(before[region]))

    plan = cleaner_for(aws_settings, account).clean(dry_run=True)

    # Dry run: nothing changed, everything named (by ARN), the protected roles not among it.
    assert {region: holdings(member, region) for region in REGIONS} == before
    assert plan.dry_run and plan.failed == {}
    kinds = {arn_type(arn) for arn in plan.deleted}
    assert kinds >= {"ec2:instance", "ec2:vpc", "ec2:natgateway", "autoscaling:autoScalingGroup",
                     "elasticloadbalancing:loadbalancer", "s3", "lambda:function", "dynamodb:table",
                     "rds:db", "rds:cluster", "cloudformation:stack", "sns", "sqs", "logs:log-group",
                     "cloudwatch:alarm", "ecr:repository", "secretsmanager:secret", "kms:key",
                     "iam:role", "iam:user", "iam:group", "iam:policy", "iam:instance-profile",
                     "autoscaling:launchConfiguration", "ec2:vpc-endpoint", "ec2:vpc-peering-connection",
                     "ec2:network-acl"}
    for region in REGIONS:
        assert f"arn:aws:ec2:{region}:{account}:instance/{filled[region]['instance']}" in plan.deleted
        assert f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/classic" in plan.deleted
    # The cross-region peering connection is named once, in its requester's region.
    peerings = [arn for arn in plan.deleted if arn_type(arn) == "ec2:vpc-peering-connection"]
    assert len(peerings) == 3 and len({arn.rsplit("/", 1)[1] for arn in peerings}) == 3
    assert not any(arn.endswith(tuple(f"role/{role}" for role in PROTECTED)) for arn in plan.deleted)

    report = cleaner_for(aws_settings, account).clean()

    assert report.failed == {} and report.left == []
    assert report.clean
    east, west = holdings(member, "us-east-1"), holdings(member, "eu-west-1")
    assert east.pop("roles") == sorted(PROTECTED)
    assert east.pop("policies") == ["sso-admin"]  # what a protected role uses stays with it
    assert nonempty(east) == {}
    assert nonempty(west) == {}
    # Nothing tagged is left for the tagging API to see either, but what AWS keeps a while
    # by design: keys pending deletion and terminated instances (listed for about an hour).
    for region in REGIONS:
        tagging = member("resourcegroupstaggingapi", region).get_resources()["ResourceTagMappingList"]
        assert [t["ResourceARN"] for t in tagging
                if arn_type(t["ResourceARN"]) not in ("kms:key", "ec2:instance")] == []
    for region in REGIONS:
        assert f"arn:aws:s3:::{filled[region]['bucket']}" in report.deleted
        assert f"arn:aws:ec2:{region}:{account}:vpc/{filled[region]['vpc']}" in report.deleted
        assert f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/classic" in report.deleted
    # The account is as a fresh one: a second pass finds nothing to do.
    again = cleaner_for(aws_settings, account).clean()
    assert again.clean and again.deleted == []


def test_a_delete_aws_refuses_fails_the_pass_and_names_the_resource(aws_settings, aws_proxy, account, member):
    for region in REGIONS:
        member("dynamodb", region).create_table(
            TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    member("sqs").create_queue(QueueName="jobs")
    aws_proxy.fail("DeleteTable", "ResourceInUseException", "Table is being updated", count=1)
    through_proxy = AwsSettings(**{**aws_settings.__dict__, "endpoint_url": aws_proxy.url})

    report = cleaner_for(through_proxy, account).clean()

    refused = f"arn:aws:dynamodb:us-east-1:{account}:table/orders"
    assert not report.clean
    assert report.failed == {refused: "ResourceInUseException: Table is being updated"}
    assert report.left == [refused]
    assert member("dynamodb", "us-east-1").list_tables()["TableNames"] == ["orders"]
    assert member("dynamodb", "eu-west-1").list_tables()["TableNames"] == []  # the pass went on
    assert member("sqs").list_queues().get("QueueUrls", []) == []
    # The next pass, no longer refused, finishes the job.
    assert cleaner_for(through_proxy, account).clean().clean


def test_a_tagged_resource_of_a_type_the_cleaner_does_not_know_fails_the_pass(aws_settings, account, member):
    ssm = member("ssm", "eu-west-1")
    ssm.put_parameter(Name="/app/flag", Value="on", Type="String", Tags=TAGS)

    report = cleaner_for(aws_settings, account, regions=("eu-west-1",)).clean()

    assert report.left == [f"arn:aws:ssm:eu-west-1:{account}:parameter/app/flag"]
    assert not report.clean
    assert ssm.get_parameter(Name="/app/flag")["Parameter"]["Value"] == "on"


def test_peering_another_account_asked_for_is_rejected_if_pending_and_deleted_if_active(
        aws_settings, aws_admin, aws_url, account, member):
    status = aws_admin.org.create_account(Email="pool-2@example.com", AccountName="pool-2")
    other = Member(aws_url, status["CreateAccountStatus"]["AccountId"])
    ours = member("ec2").create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    theirs = other("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    asked = [other("ec2").create_vpc_peering_connection(VpcId=theirs, PeerVpcId=ours, PeerOwnerId=account)
             ["VpcPeeringConnection"]["VpcPeeringConnectionId"] for _ in range(2)]
    member("ec2").accept_vpc_peering_connection(VpcPeeringConnectionId=asked[0])

    report = cleaner_for(aws_settings, account, regions=("us-east-1",)).clean()

    assert report.clean
    states = {p["VpcPeeringConnectionId"]: p["Status"]["Code"] for p in
              other("ec2").describe_vpc_peering_connections()["VpcPeeringConnections"]}
    assert states == {asked[0]: "deleted", asked[1]: "rejected"}  # only its requester may delete a pending one
    assert [v["VpcId"] for v in other("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]] == [theirs]
    assert [v["VpcId"] for v in member("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
