"""The base of the domain's value objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """An immutable value: it cannot change after validation, and an unknown field is an error
    (a misspelt key fails where it is written, not where the value is read)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
