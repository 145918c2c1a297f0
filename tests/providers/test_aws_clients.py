"""AwsClients: member-account IAM clients are reused, and only a bounded number are kept."""

from sandbox.providers.aws.calls import MEMBER_CLIENTS_KEPT, AwsClients


def test_member_clients_are_reused_and_the_least_recently_used_are_dropped(aws_settings):
    clients = AwsClients(aws_settings)
    accounts = [f"{100000000000 + n}" for n in range(MEMBER_CLIENTS_KEPT + 1)]
    first = clients.member_iam(accounts[0])
    assert clients.member_iam(accounts[0]) is first  # within the credentials' hour: reused

    for account in accounts[1:]:  # one more account than are kept: the first one goes
        clients.member_iam(account)

    assert clients.member_iam(accounts[-1]) is clients.member_iam(accounts[-1])
    again = clients.member_iam(accounts[0])
    assert again is not first
    # The new client acts in that account, with the role it assumed there.
    assert again.get_user()["User"]["Arn"].startswith(f"arn:aws:iam::{accounts[0]}:")
