"""Approval rules (docs/approvals.md): who may approve in which role, and how many distinct
roles a milestone needs. A policy's ``approvals`` section names the roles (each member an
identity with an Ed25519 public key and/or a GitHub login) and what each stage requires; a
milestone's ``approvals`` key may ask for more, never fewer.

    approvals:
      roles:
        ml_lead:
          members:
            - {identity: alice@example.com, public_key: "MCowBQYDK2VwAyEA...", github: alice}
      stages:
        pilot: {count: 2, roles: [ml_lead, security]}
      max_days: 14
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from gatekeeper.load.strict import Strict
from gatekeeper.record.approval import BadKeyError, parse_public_key

ROLE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
#: GitHub's login rule: alphanumerics and single hyphens, at most 39 characters.
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


class Member(Strict):
    """One person who may approve in a role: how they are named, the public key their signed
    approvals verify with, and their GitHub login (a pull request review counts for them)."""

    identity: str = Field(min_length=1, description="Who approves, e.g. alice@example.com.")
    public_key: str | None = Field(
        default=None, description="Ed25519 public key: PEM, ssh-ed25519, or the base64 of its "
        "32 bytes (`gatekeeper keys generate` prints it).")
    github: str | None = Field(
        default=None, description="GitHub login whose approving pull request review counts as "
        "this member's approval (check --github-pr).")

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_public_key(value)
            except BadKeyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("github")
    @classmethod
    def _check_login(cls, value: str | None) -> str | None:
        if value is not None and not GITHUB_LOGIN.match(value):
            raise ValueError(f"{value!r} is not a GitHub login")
        return value

    @model_validator(mode="after")
    def _can_approve(self) -> Self:
        if self.public_key is None and self.github is None:
            raise ValueError(f"member {self.identity!r} has neither public_key nor github: "
                             "no approval of theirs could ever count")
        return self

    def names(self) -> frozenset[str]:
        """Every name this person acts under, compared without case: the identity, its part
        before ``@``, and the GitHub login (for separation of duties)."""
        found = {self.identity, self.identity.split("@", 1)[0]}
        if self.github:
            found.add(self.github)
        return frozenset(n.strip().casefold() for n in found if n.strip())


class Role(Strict):
    members: tuple[Member, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: set[str] = set()
        for member in self.members:
            name = member.identity.strip().casefold()
            if name in seen:
                raise ValueError(f"member {member.identity!r} is listed twice")
            seen.add(name)
        return self


class ApprovalRequirement(Strict):
    """``count`` distinct roles out of ``roles`` must each have a valid approval."""

    count: int = Field(ge=1, description="How many of the roles must approve.")
    roles: tuple[str, ...] = Field(min_length=1, description="The roles that may approve.")

    @field_validator("roles")
    @classmethod
    def _check_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        for role in roles:
            if not re.match(ROLE_PATTERN, role):
                raise ValueError(f"role {role!r} must match {ROLE_PATTERN}")
        if len(set(roles)) != len(roles):
            raise ValueError("a role is listed twice")
        return roles

    @model_validator(mode="after")
    def _attainable(self) -> Self:
        if self.count > len(self.roles):
            raise ValueError(f"count {self.count} is more than the {len(self.roles)} roles "
                             "listed: it could never be met")
        return self

    def describe(self) -> str:
        return f"{self.count} of {', '.join(self.roles)}"
