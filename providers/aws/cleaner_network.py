"""Cleaner kinds for what ties VPCs to each other and to services (see cleaner.py): VPC
endpoints, VPC peering connections and network ACLs.

KINDS run after every other service and before cleaner_compute.NETWORK: an interface
endpoint holds network interfaces in subnets and security groups, a gateway endpoint
holds routes in route tables, a peering connection holds two VPCs, and a network ACL
holds subnets. None of them has deletion protection. A VPC's default network ACL cannot
be deleted and goes with its VPC, so it is never listed.
"""

from __future__ import annotations

from typing import Iterator

from botocore.exceptions import ClientError

from sandbox.providers.aws.calls import error_code
from sandbox.providers.aws.cleaner import Context, Kind, Resource, pages

# States in which AWS still lists a thing for a while but it is no longer there to delete.
GONE_ENDPOINT_STATES = frozenset({"deleted"})
GONE_PEERING_STATES = frozenset({"deleted", "rejected", "failed", "expired"})


# -- VPC endpoints -----------------------------------------------------------------------------

def list_vpc_endpoints(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    for endpoint in pages(client, "describe_vpc_endpoints", "VpcEndpoints"):
        if str(endpoint.get("State", "")).lower() in GONE_ENDPOINT_STATES:
            continue
        yield Resource("ec2:vpc-endpoint", region, endpoint["VpcEndpointId"],
                       ctx.arn("ec2", region, f"vpc-endpoint/{endpoint['VpcEndpointId']}"))


def delete_vpc_endpoint(ctx: Context, r: Resource) -> None:
    """Takes the endpoint's routes (gateway) or network interfaces (interface) with it.
    DeleteVpcEndpoints reports a refusal in its answer, not as an error: raise it as one."""
    answer = ctx.client("ec2", r.region).delete_vpc_endpoints(VpcEndpointIds=[r.key])
    for item in answer.get("Unsuccessful", []):
        error = item.get("Error", {})
        raise ClientError({"Error": {"Code": error.get("Code", ""), "Message": error.get("Message", "")}},
                          "DeleteVpcEndpoints")


# -- VPC peering connections -----------------------------------------------------------------

def list_vpc_peering_connections(ctx: Context, region: str) -> Iterator[Resource]:
    """A cross-region connection is listed in both regions; it is taken from one: the
    requester's region when this account asked for it, else the accepter's."""
    client = ctx.client("ec2", region)
    for connection in pages(client, "describe_vpc_peering_connections", "VpcPeeringConnections"):
        state = connection.get("Status", {}).get("Code", "")
        if state in GONE_PEERING_STATES:
            continue
        requester = connection.get("RequesterVpcInfo", {})
        accepter = connection.get("AccepterVpcInfo", {})
        asked = requester.get("OwnerId") == ctx.account_id
        if (requester if asked else accepter).get("Region", region) != region:
            continue
        key = connection["VpcPeeringConnectionId"]
        # Only its requester may delete a connection still pending acceptance; the accepter rejects it.
        yield Resource("ec2:vpc-peering-connection", region, key,
                       ctx.arn("ec2", region, f"vpc-peering-connection/{key}"),
                       {"reject": state == "pending-acceptance" and not asked})


def delete_vpc_peering_connection(ctx: Context, r: Resource) -> None:
    client = ctx.client("ec2", r.region)
    if r.detail.get("reject"):
        client.reject_vpc_peering_connection(VpcPeeringConnectionId=r.key)
    else:
        client.delete_vpc_peering_connection(VpcPeeringConnectionId=r.key)


# -- network ACLs ------------------------------------------------------------------------------

def list_network_acls(ctx: Context, region: str) -> Iterator[Resource]:
    client = ctx.client("ec2", region)
    acls = list(pages(client, "describe_network_acls", "NetworkAcls"))
    defaults = {acl["VpcId"]: acl["NetworkAclId"] for acl in acls if acl.get("IsDefault")}
    for acl in acls:
        if acl.get("IsDefault"):
            continue  # goes with its VPC
        yield Resource("ec2:network-acl", region, acl["NetworkAclId"],
                       ctx.arn("ec2", region, f"network-acl/{acl['NetworkAclId']}"),
                       {"default": defaults.get(acl["VpcId"]),
                        "associations": [a["NetworkAclAssociationId"] for a in acl.get("Associations", [])
                                         if a.get("NetworkAclAssociationId")]})


def delete_network_acl(ctx: Context, r: Resource) -> None:
    """An ACL with subnets cannot be deleted (and a subnet always has one): hand its subnets
    back to their VPC's default ACL first."""
    client = ctx.client("ec2", r.region)
    if r.detail.get("default"):
        for association in r.detail.get("associations", []):
            try:
                client.replace_network_acl_association(AssociationId=association,
                                                       NetworkAclId=r.detail["default"])
            except ClientError as exc:
                if error_code(exc) != "InvalidAssociationID.NotFound":  # its subnet is gone
                    raise
    client.delete_network_acl(NetworkAclId=r.key)


KINDS = [
    Kind("ec2:vpc-endpoint", list_vpc_endpoints, delete_vpc_endpoint, wait=True),
    Kind("ec2:vpc-peering-connection", list_vpc_peering_connections, delete_vpc_peering_connection, wait=True),
    Kind("ec2:network-acl", list_network_acls, delete_network_acl),
]
