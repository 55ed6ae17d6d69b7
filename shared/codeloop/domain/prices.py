"""The price table (setting ``MODEL_PRICES``): USD per million input and output tokens per model,
optionally per agent minute for agents that report no tokens.

A module of its own because settings read it at every cold start; ``domain/costs.py`` prices calls
with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelPrice(BaseModel):
    """USD per million tokens in and out; ``minute``: USD per minute of an agent's run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Decimal | None = Field(default=None, ge=0)
    output: Decimal | None = Field(default=None, ge=0)
    minute: Decimal | None = Field(default=None, ge=0)


PriceTable = dict[str, ModelPrice]


def parse_price_table(raw: dict[str, Any]) -> PriceTable:
    """``{"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "codegen": {"minute": 0.1}}``; model names
    are compared without case."""
    return {name.lower(): ModelPrice.model_validate(price) for name, price in raw.items()}
