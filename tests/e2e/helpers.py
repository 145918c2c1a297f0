"""Reading the clouds' state directly (moto via boto3, the emulator via its state dump)."""

import boto3


def aws_client(aws_url: str, service: str, credentials: dict | None = None):
    creds = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=aws_url, region_name="us-east-1", **creds)


def member_iam(aws_url: str, account_id: str):
    sts = aws_client(aws_url, "sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                            RoleSessionName="test")["Credentials"]
    return aws_client(aws_url, "iam", {"aws_access_key_id": creds["AccessKeyId"],
                                       "aws_secret_access_key": creds["SecretAccessKey"],
                                       "aws_session_token": creds["SessionToken"]})


def ou_path_of(aws_url: str, account_id: str) -> str:
    org = aws_client(aws_url, "organizations")
    names = []
    child = account_id
    while True:
        parent = org.list_parents(ChildId=child)["Parents"][0]
        if parent["Type"] == "ROOT":
            return "/" + "/".join(reversed(names))
        names.append(org.describe_organizational_unit(OrganizationalUnitId=parent["Id"])
                     ["OrganizationalUnit"]["Name"])
        child = parent["Id"]


def account_tags(aws_url: str, account_id: str) -> dict:
    org = aws_client(aws_url, "organizations")
    return {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=account_id)["Tags"]}
