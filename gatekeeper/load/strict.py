"""The base of every model read from a user's file: immutable, unknown keys rejected (a typo
must never weaken a gate), and no NaN or infinite numbers (a NaN bound never fails)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
