"""The README's story through the real `sandbox` command against moto and the GCP emulator."""

from tests.cli.conftest import assert_one_line_error


def test_aws_and_gcp_sandboxes_from_the_command_line(cloud_cli):
    aws = cloud_cli.json("request", "aws-individual", "--ttl", "3d", "--wait")
    gcp = cloud_cli.json("request", "gcp-individual", "--wait")
    listed = {row["id"]: row for row in cloud_cli.json("list")}
    assert {listed[aws["id"]]["state"], listed[gcp["id"]]["state"]} == {"active"}
    for row in listed.values():
        assert {"id", "name", "provider", "template", "owner", "state", "cloud_id", "expires_at"} <= set(row)

    table = cloud_cli("list", check=True).stdout
    assert aws["id"] in table and gcp["id"] in table

    aws_creds = cloud_cli.json("credentials", aws["id"][:5])
    assert aws_creds["console_url"].endswith(".signin.aws.amazon.com/console") and aws_creds["password"]
    gcp_creds = cloud_cli.json("credentials", gcp["id"])
    assert gcp_creds["project_id"] == gcp["cloud_id"] and gcp_creds["roles"] == ["roles/owner"]
    # secrets never show up in list/show output
    assert aws_creds["password"] not in cloud_cli("show", aws["id"], check=True).stdout

    assert_one_line_error(cloud_cli("credentials", aws["id"], user="mallory@example.com"), "no sandbox with id")
    assert_one_line_error(cloud_cli("extend", aws["id"], "--by", "1d", user="mallory@example.com"),
                          "no sandbox with id")

    extended = cloud_cli.json("extend", aws["id"], "--by", "2d")
    assert extended["extension_count"] == 1

    gone = cloud_cli.json("destroy", gcp["id"], "--yes")
    assert gone["state"] == "deleted"
    actions = [e["action"] for e in cloud_cli.json("events", gcp["id"])]
    assert actions[0] == "request" and actions[-1] == "deleted"
    assert [r["id"] for r in cloud_cli.json("list")] == [aws["id"]]
    assert {r["state"] for r in cloud_cli.json("list", "--all")} == {"active", "deleted"}
