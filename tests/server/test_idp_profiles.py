"""README's identity-provider table, row by row: an ID token shaped as that provider
shapes it (its e-mail and groups claims, with or without email_verified), issued and
signed by the real local OpenID provider, verified and mapped with the settings the
README gives for it. Each row must yield the right e-mail, admin flag, department and
managed departments; a token of that shape under the default settings shows why the
row's settings are needed."""

from __future__ import annotations

import pytest

from sandbox.config import parse_settings
from sandbox.server.auth import NotAuthenticatedError, identity_from_claims
from sandbox.server.oidc import OidcVerifier
from tests.oidc import CLIENT_ID

DEPARTMENTS = {"engineering": {"aws_ou": "engineering", "gcp_folder": "engineering", "groups": []},
               "research": {"aws_ou": "research", "gcp_folder": "research", "groups": []},
               # A Google Workspace domain as a department: department_claim = "hd"
               "example.com": {"aws_ou": "example", "gcp_folder": "example", "groups": []}}

# name: (the user's claims at that provider, its [auth] settings, its groups for admins,
#        managers and research, or None for a provider without groups)
PROFILES = {
    "okta": ({"email": "Ada@Example.com", "email_verified": True,
              "groups": ["Everyone", "sandbox-admins", "sandbox-managers", "research"]},
             {}, ("sandbox-admins", "sandbox-managers", "research")),
    "entra": ({"preferred_username": "ada@example.com",
               "groups": ["5f1c-admins-oid", "9a2e-managers-oid", "77b0-research-oid"]},
              {"email_claim": "preferred_username", "require_email_verified": False},
              ("5f1c-admins-oid", "9a2e-managers-oid", "77b0-research-oid")),
    "google": ({"email": "ada@example.com", "email_verified": True, "hd": "example.com"},
               {"department_claim": "hd"}, None),
    "keycloak": ({"email": "ada@example.com", "email_verified": True,
                  "groups": ["/sandbox-admins", "/sandbox-managers", "/research"]},
                 {}, ("/sandbox-admins", "/sandbox-managers", "/research")),
    "gitlab": ({"email": "ada@example.com", "email_verified": True,
                "groups_direct": ["acme/sandbox-admins", "acme/sandbox-managers", "acme/research"]},
               {"groups_claim": "groups_direct"}, ("acme/sandbox-admins", "acme/sandbox-managers", "acme/research")),
}


def issue(provider, sub: str, claims: dict) -> str:
    """An ID token with exactly these user claims (no e-mail claim unless given)."""
    provider.http.put(f"{provider.issuer}/users/{sub}", json=claims).raise_for_status()
    return provider.id_token(sub)


def settings_for(provider, auth: dict, groups: tuple | None, *, admin_users=()):
    raw = {"auth": {"issuer": provider.issuer, "client_id": CLIENT_ID, "allowed_domains": ["example.com"], **auth},
           "admin": {"users": list(admin_users)},
           "departments": {name: dict(d) for name, d in DEPARTMENTS.items()}}
    if groups is not None:
        admins, managers, research = groups
        raw["auth"].update(admin_groups=[admins], manager_groups=[managers])
        raw["departments"]["research"]["groups"] = [research]
    return parse_settings(raw, "test")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_identity_provider_row_maps_its_token_to_the_right_roles(oidc_provider, name):
    claims, auth, groups = PROFILES[name]
    token = issue(oidc_provider, f"ada-{name}", claims)
    # Google has no groups claim: the README says [admin] users there.
    settings = settings_for(oidc_provider, auth, groups,
                            admin_users=["ada@example.com"] if groups is None else ())

    identity = identity_from_claims(settings, OidcVerifier(settings.auth).verify(token))

    assert identity.email == "ada@example.com"
    assert identity.is_admin
    assert identity.department == ("example.com" if name == "google" else "research")
    assert identity.manages == (frozenset({"research"}) if groups is not None else frozenset())
    assert identity.subject == f"{oidc_provider.issuer}|ada-{name}"


@pytest.mark.parametrize("name", ["entra", "gitlab", "google", "keycloak"])
def test_without_the_rows_settings_the_token_is_refused_or_gets_no_roles(oidc_provider, name):
    claims, _auth, groups = PROFILES[name]
    token = issue(oidc_provider, f"bare-{name}", claims)
    settings = settings_for(oidc_provider, {}, None)
    verified = OidcVerifier(settings.auth).verify(token)

    if name == "entra":  # no `email` claim and no email_verified
        with pytest.raises(NotAuthenticatedError, match="no e-mail in claim 'email'"):
            identity_from_claims(settings, verified)
        return
    identity = identity_from_claims(settings, verified)
    assert not identity.is_admin and identity.manages == frozenset()
    assert identity.department == "engineering"  # the first department: no claim maps it
    if name == "keycloak":  # the group names carry their path: "sandbox-admins" alone misses
        settings = settings_for(oidc_provider, {}, tuple(g.lstrip("/") for g in groups))
        assert not identity_from_claims(settings, verified).is_admin
