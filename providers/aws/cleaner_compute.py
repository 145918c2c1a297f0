"""Cleaner kinds for EC2, Auto Scaling and Elastic Load Balancing (see cleaner.py).

KINDS run early (what launches or fronts instances, then the instances); NETWORK runs
after every other service has let go of its network interfaces (and after the VPC
endpoints, peering connections and network ACLs of cleaner_network.py). The default VPC, its
subnets, its internet gateway, default security groups and main route tables stay: every
account has them, and new sandboxes expect them.
"""

from __future__ import annotations

from typing import Iterator

from botocore.exceptions import ClientError

from sandbox.providers.aws.calls import error_code
from sandbox.providers.aws.cleaner import Context, Kind, Resource, pages

GONE_INSTANCE_STATES = frozenset({"terminated"})

# A classic load balancer's ARN has the same type as an application or network one's
# ("elasticloadbalancing:loadbalancer", which that kind's name covers for the tagging
# check); the suffix keeps the two kinds, and so their batches, apart.
CLASSIC_LOAD_BALANCER = "elasticloadbalancing:loadbalancer/classic"


# -- Auto Scaling and load balancers -------------------------------------------------------

def list_auto_scaling_groups(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("autoscaling", region)
    for group in pages(client, "describe_auto_scaling_groups", "AutoScalingGroups"):
        yield Resource("autoscaling:autoScalingGroup", region, group["AutoScalingGroupName"],
                       group["AutoScalingGroupARN"])


def delete_auto_scaling_group(ctx: Context, r: Resource) -> None:
    client = ctx.client("autoscaling", r.region)
    # Scale-in protection would keep instances, and so the group; ForceDelete terminates them.
    client.delete_auto_scaling_group(AutoScalingGroupName=r.key, ForceDelete=True)


def list_launch_configurations(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("autoscaling", region)
    for config in pages(client, "describe_launch_configurations", "LaunchConfigurations"):
        yield Resource("autoscaling:launchConfiguration", region, config["LaunchConfigurationName"],
                       config["LaunchConfigurationARN"])


def delete_launch_configuration(ctx: Context, r: Resource) -> None:
    # In use by a group until the groups are gone (so after them); no deletion protection.
    try:
        ctx.client("autoscaling", r.region).delete_launch_configuration(LaunchConfigurationName=r.key)
    except ClientError as exc:
        # AWS says "already gone" only as a ValidationError ("Launch configuration name not
        # found"), too broad a code for GONE_CODES.
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if not (error_code(exc) == "ValidationError" and "not found" in message):
            raise


def list_load_balancers(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("elbv2", region)
    for lb in pages(client, "describe_load_balancers", "LoadBalancers"):
        yield Resource("elasticloadbalancing:loadbalancer", region, lb["LoadBalancerArn"], lb["LoadBalancerArn"])


def delete_load_balancer(ctx: Context, r: Resource) -> None:
    client = ctx.client("elbv2", r.region)
    client.modify_load_balancer_attributes(LoadBalancerArn=r.key, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    client.delete_load_balancer(LoadBalancerArn=r.key)


def list_classic_load_balancers(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("elb", region)
    for lb in pages(client, "describe_load_balancers", "LoadBalancerDescriptions"):
        name = lb["LoadBalancerName"]
        yield Resource(CLASSIC_LOAD_BALANCER, region, name,
                       ctx.arn("elasticloadbalancing", region, f"loadbalancer/{name}"))


def delete_classic_load_balancer(ctx: Context, r: Resource) -> None:
    # A classic load balancer has no deletion protection; deleting it deregisters its
    # instances and releases its network interfaces (asynchronously, in AWS).
    ctx.client("elb", r.region).delete_load_balancer(LoadBalancerName=r.key)


def list_target_groups(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("elbv2", region)
    for group in pages(client, "describe_target_groups", "TargetGroups"):
        yield Resource("elasticloadbalancing:targetgroup", region, group["TargetGroupArn"], group["TargetGroupArn"])


def delete_target_group(ctx: Context, r: Resource) -> None:
    ctx.client("elbv2", r.region).delete_target_group(TargetGroupArn=r.key)


# -- instances and what they are made from ------------------------------------------------

def list_instances(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for reservation in pages(client, "describe_instances", "Reservations"):
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in GONE_INSTANCE_STATES:
                yield Resource("ec2:instance", region, instance["InstanceId"],
                               ctx.arn("ec2", region, f"instance/{instance['InstanceId']}"))


def delete_instance(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    client.modify_instance_attribute(InstanceId=r.key, DisableApiTermination={"Value": False})
    client.terminate_instances(InstanceIds=[r.key])


def list_launch_templates(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for template in pages(client, "describe_launch_templates", "LaunchTemplates"):
        yield Resource("ec2:launch-template", region, template["LaunchTemplateId"],
                       ctx.arn("ec2", region, f"launch-template/{template['LaunchTemplateId']}"))


def delete_launch_template(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_launch_template(LaunchTemplateId=r.key)


# -- networks, storage, images ---------------------------------------------------------------

def _default_vpcs(ctx: Context, region: str) -> set[str]:
    client = ctx.client("ec2", region)
    return {v["VpcId"] for v in client.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]}


def list_nat_gateways(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for gateway in pages(client, "describe_nat_gateways", "NatGateways"):
        if gateway["State"] not in ("deleted", "failed"):
            yield Resource("ec2:natgateway", region, gateway["NatGatewayId"],
                           ctx.arn("ec2", region, f"natgateway/{gateway['NatGatewayId']}"))


def delete_nat_gateway(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_nat_gateway(NatGatewayId=r.key)


def list_addresses(ctx: Context, region: str) -> Iterator[Resource]:
    for address in ctx.client("ec2", region).describe_addresses()["Addresses"]:
        yield Resource("ec2:elastic-ip", region, address["AllocationId"],
                       ctx.arn("ec2", region, f"elastic-ip/{address['AllocationId']}"),
                       {"association": address.get("AssociationId")})


def release_address(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    if r.detail.get("association"):
        client.disassociate_address(AssociationId=r.detail["association"])
    client.release_address(AllocationId=r.key)


def list_network_interfaces(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for eni in pages(client, "describe_network_interfaces", "NetworkInterfaces"):
        attachment = eni.get("Attachment") or {}
        if attachment.get("InstanceId") and (attachment.get("DeleteOnTermination")
                                             or attachment.get("DeviceIndex") == 0):
            continue  # goes with its instance (a primary interface cannot be detached)
        yield Resource("ec2:network-interface", region, eni["NetworkInterfaceId"],
                       ctx.arn("ec2", region, f"network-interface/{eni['NetworkInterfaceId']}"),
                       {"attachment": attachment.get("AttachmentId")})


def delete_network_interface(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    if r.detail.get("attachment"):
        client.detach_network_interface(AttachmentId=r.detail["attachment"], Force=True)
    client.delete_network_interface(NetworkInterfaceId=r.key)


def list_volumes(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for volume in pages(client, "describe_volumes", "Volumes"):
        if volume["State"] == "deleting":
            continue
        attached = [a for a in volume.get("Attachments", []) if a.get("State") in ("attached", "attaching")]
        if attached and all(a.get("DeleteOnTermination") for a in attached):
            continue  # a root volume, going with its instance
        yield Resource("ec2:volume", region, volume["VolumeId"],
                       ctx.arn("ec2", region, f"volume/{volume['VolumeId']}"),
                       {"attached": bool(attached)})


def delete_volume(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    if r.detail.get("attached"):
        client.detach_volume(VolumeId=r.key, Force=True)
    client.delete_volume(VolumeId=r.key)


def list_images(ctx: Context, region: str) -> Iterator[Resource]:
    for image in ctx.client("ec2", region).describe_images(Owners=["self"])["Images"]:
        yield Resource("ec2:image", region, image["ImageId"],
                       ctx.arn("ec2", region, f"image/{image['ImageId']}", account=False))


def deregister_image(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).deregister_image(ImageId=r.key)


def list_snapshots(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    # The owner-id filter, not OwnerIds=["self"]: moto 5 ignores OwnerIds and would list the
    # snapshots behind its public AMIs as ours.
    mine = [{"Name": "owner-id", "Values": [ctx.account_id]}]
    for snapshot in pages(client, "describe_snapshots", "Snapshots", Filters=mine):
        yield Resource("ec2:snapshot", region, snapshot["SnapshotId"],
                       ctx.arn("ec2", region, f"snapshot/{snapshot['SnapshotId']}", account=False))


def delete_snapshot(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_snapshot(SnapshotId=r.key)


def list_internet_gateways(ctx: Context, region: str) -> Iterator[Resource]:
    defaults = _default_vpcs(ctx, region)
    client = ctx.client("ec2", region)
    for gateway in pages(client, "describe_internet_gateways", "InternetGateways"):
        vpcs = [a["VpcId"] for a in gateway.get("Attachments", [])]
        if any(vpc in defaults for vpc in vpcs):
            continue
        yield Resource("ec2:internet-gateway", region, gateway["InternetGatewayId"],
                       ctx.arn("ec2", region, f"internet-gateway/{gateway['InternetGatewayId']}"),
                       {"vpcs": vpcs})


def delete_internet_gateway(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    for vpc in r.detail.get("vpcs", []):
        client.detach_internet_gateway(InternetGatewayId=r.key, VpcId=vpc)
    client.delete_internet_gateway(InternetGatewayId=r.key)


def list_subnets(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for subnet in pages(client, "describe_subnets", "Subnets"):
        if not subnet.get("DefaultForAz"):
            yield Resource("ec2:subnet", region, subnet["SubnetId"],
                           ctx.arn("ec2", region, f"subnet/{subnet['SubnetId']}"))


def delete_subnet(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_subnet(SubnetId=r.key)


def list_route_tables(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for table in pages(client, "describe_route_tables", "RouteTables"):
        associations = table.get("Associations", [])
        if any(a.get("Main") for a in associations):
            continue  # goes with its VPC
        yield Resource("ec2:route-table", region, table["RouteTableId"],
                       ctx.arn("ec2", region, f"route-table/{table['RouteTableId']}"),
                       {"associations": [a["RouteTableAssociationId"] for a in associations
                                         if a.get("RouteTableAssociationId")]})


def delete_route_table(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    for association in r.detail.get("associations", []):
        client.disassociate_route_table(AssociationId=association)
    client.delete_route_table(RouteTableId=r.key)


def list_security_groups(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for group in pages(client, "describe_security_groups", "SecurityGroups"):
        if group["GroupName"] != "default":
            yield Resource("ec2:security-group", region, group["GroupId"],
                           ctx.arn("ec2", region, f"security-group/{group['GroupId']}"))


def revoke_group_references(ctx: Context, region: str, doomed: list[Resource]) -> None:
    """Groups that name each other cannot be deleted in any order: first take every rule that
    names a doomed group out of every group (default ones included)."""
    client = ctx.client("ec2", region)
    ids = {r.key for r in doomed}
    for group in pages(client, "describe_security_groups", "SecurityGroups"):
        for field_name, revoke in (("IpPermissions", client.revoke_security_group_ingress),
                                   ("IpPermissionsEgress", client.revoke_security_group_egress)):
            naming = [p for p in group.get(field_name, [])
                      if any(pair.get("GroupId") in ids for pair in p.get("UserIdGroupPairs", []))]
            if naming:
                revoke(GroupId=group["GroupId"], IpPermissions=naming)


def delete_security_group(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_security_group(GroupId=r.key)


def list_vpcs(ctx: Context, region: str) -> Iterator[Resource]:
    for vpc in ctx.client("ec2", region).describe_vpcs()["Vpcs"]:
        if not vpc.get("IsDefault"):
            yield Resource("ec2:vpc", region, vpc["VpcId"], ctx.arn("ec2", region, f"vpc/{vpc['VpcId']}"))


def delete_vpc(ctx: Context, r: Resource) -> None:
    ctx.client("ec2", r.region).delete_vpc(VpcId=r.key)


KINDS = [
    Kind("autoscaling:autoScalingGroup", list_auto_scaling_groups, delete_auto_scaling_group, wait=True),
    Kind("autoscaling:launchConfiguration", list_launch_configurations, delete_launch_configuration),
    Kind("elasticloadbalancing:loadbalancer", list_load_balancers, delete_load_balancer, wait=True),
    Kind(CLASSIC_LOAD_BALANCER, list_classic_load_balancers, delete_classic_load_balancer),
    Kind("elasticloadbalancing:targetgroup", list_target_groups, delete_target_group),
    Kind("ec2:instance", list_instances, delete_instance, wait=True),
    Kind("ec2:launch-template", list_launch_templates, delete_launch_template),
]

NETWORK = [
    Kind("ec2:natgateway", list_nat_gateways, delete_nat_gateway, wait=True),
    Kind("ec2:elastic-ip", list_addresses, release_address),
    Kind("ec2:network-interface", list_network_interfaces, delete_network_interface),
    Kind("ec2:volume", list_volumes, delete_volume),
    Kind("ec2:image", list_images, deregister_image),  # before its snapshots
    Kind("ec2:snapshot", list_snapshots, delete_snapshot),
    Kind("ec2:internet-gateway", list_internet_gateways, delete_internet_gateway),
    Kind("ec2:subnet", list_subnets, delete_subnet),
    Kind("ec2:route-table", list_route_tables, delete_route_table),
    Kind("ec2:security-group", list_security_groups, delete_security_group, prepare=revoke_group_references),
    Kind("ec2:vpc", list_vpcs, delete_vpc),
]
