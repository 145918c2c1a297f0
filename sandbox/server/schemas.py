"""The API's request and response shapes: the OpenAPI document is the contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OPEN = ConfigDict(extra="allow")


class SandboxOut(BaseModel):
    """The same fields as the CLI's `--output json` rows; `show` adds members, tags, steps."""

    model_config = OPEN
    id: str
    name: str
    provider: str
    template: str
    owner: str
    department: str
    state: str
    cloud_id: str | None
    location: str
    created_at: str | None
    expires_at: str | None
    frozen_at: str | None
    delete_after: str | None
    deleted_at: str | None
    extension_count: int
    budget_usd: float | None
    spend_usd: float | None
    approval_required: bool
    approved_by: str | None
    last_error: str | None
    attempts: int = 0
    next_attempt_at: str | None = Field(default=None, description="provisioning or deleting: when the daemon "
                                                                   "tries again")


class MemberOut(BaseModel):
    email: str
    role: str


class SandboxDetail(SandboxOut):
    members: list[MemberOut] = []
    tags: dict[str, str] = {}
    steps_done: list[str] = []


class SandboxPage(BaseModel):
    items: list[SandboxOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class EventOut(BaseModel):
    id: int | None
    sandbox_id: str | None
    at: str | None
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]


class CredentialsOut(BaseModel):
    """Provider-specific fields follow (console URL, user name, password / project, roles)."""

    model_config = OPEN
    sandbox_id: str
    name: str
    provider: str
    state: str
    member: str


class TemplateRow(BaseModel):
    """Durations as one types them (14d, 12h); max_live 0: no limit."""

    name: str
    provider: str
    kind: str
    default_ttl: str
    min_ttl: str
    max_ttl: str
    max_extensions: int
    budget_usd: float | None
    approval_required: bool
    max_live: int
    description: str


class TemplateOut(BaseModel):
    model_config = OPEN
    name: str
    provider: str
    kind: str
    description: str


class SignInConfig(BaseModel):
    issuer: str
    client_id: str
    client_secret: str = Field(description="Only an installed-app secret, which is not a secret")
    scopes: str


class Quota(BaseModel):
    used: int
    limit: int | None


class MeOut(BaseModel):
    email: str
    roles: list[str]
    department: str
    manages: list[str]
    quota: Quota
    via: str


class TokenOut(BaseModel):
    id: str
    name: str
    owner: str
    scope: str
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown this once, stored only as a hash.")


class SandboxRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(max_length=200)
    ttl: str | None = Field(default=None, max_length=40, description="e.g. 12h, 7d; default: the template's")
    members: list[str] = Field(default=[], max_length=100)
    name: str | None = Field(default=None, max_length=40,
                             description="Names it {name}-{id} instead of {your handle}-{id}, e.g. load-test")


class ExtendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(max_length=40, description="How much longer, e.g. 3d")


class BudgetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_usd: str = Field(max_length=20, description="The new budget in USD, e.g. 300")


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    expires_in: str = Field(default="30d", max_length=40)
    scope: str = Field(default="write", pattern="^(read|write)$")


class Problem(BaseModel):
    """RFC 9457; `exit_code` is what the CLI exits with for the same error."""

    model_config = OPEN
    type: str
    title: str
    status: int
    detail: str
    exit_code: int


class Health(BaseModel):
    status: str
    detail: str = ""
