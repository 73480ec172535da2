"""Token prices (USD per million tokens) and the cost of a call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "Price", "cost_usd"]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)


# Public list prices as of 2026; override them in the worker config's `prices:`.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60),
    "gpt-4.1-nano": Price(input_per_mtok=0.10, output_per_mtok=0.40),
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "gpt-4": Price(input_per_mtok=30.00, output_per_mtok=60.00),
    "gpt-3.5-turbo": Price(input_per_mtok=0.50, output_per_mtok=1.50),
    "claude-3-5-haiku": Price(input_per_mtok=0.80, output_per_mtok=4.00),
    "claude-3-5-sonnet": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-3-7-sonnet": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-sonnet-4": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-opus-4": Price(input_per_mtok=15.00, output_per_mtok=75.00),
    "claude-3-haiku": Price(input_per_mtok=0.25, output_per_mtok=1.25),
    "text-embedding-3-small": Price(input_per_mtok=0.02),
    "text-embedding-3-large": Price(input_per_mtok=0.13),
    "text-embedding-ada-002": Price(input_per_mtok=0.10),
}


def cost_usd(price: Price | None, input_tokens: int, output_tokens: int) -> float:
    if price is None:
        return 0.0
    return round(
        (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6, 10
    )
