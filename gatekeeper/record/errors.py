"""The audit store's errors, in a module of their own so every store and helper can import them
without importing the JSONL store (which imports much of the package)."""

from __future__ import annotations

from gatekeeper.errors import InfrastructureError


class AuditWriteError(InfrastructureError):
    """The audit log could not be written: no verdict may be reported (exit 3)."""


class AuditReadError(InfrastructureError):
    """The audit log could not be read or trusted: callers must fail closed (exit 3)."""
