"""A dated table of list prices (USD per million tokens) for common judge models, overridable by `[prices]`.

Prices change: the table says when it was checked, `[prices."MODEL"]` in evalharness.toml wins, and a model
missing from both shows a cost of $0 with a note (and `--max-cost` refuses to run without a price).
"""

from __future__ import annotations

from dataclasses import dataclass

from evalharness.config import ProjectConfig

PRICES_CHECKED = "2025-10-15"  # the providers' public price pages on this date (standard tier; batch = half)


@dataclass(frozen=True)
class Price:
    """USD per million tokens; cached input is billed at `cached_input` where the provider discounts it."""

    input: float
    output: float
    cached_input: float | None = None
    batch_discount: float = 0.5  # the batch API's price as a share of the standard one

    def batch(self) -> "Price":
        """The price of the same tokens through the provider's batch API."""
        f = self.batch_discount
        return Price(self.input * f, self.output * f, None if self.cached_input is None else self.cached_input * f, 1.0)

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """Cost of one call; cached input tokens (a part of input_tokens) at the cached price when there is one."""
        cached = min(cached_tokens, input_tokens) if self.cached_input is not None else 0
        cached_price = self.cached_input if self.cached_input is not None else self.input
        return ((input_tokens - cached) * self.input + cached * cached_price + output_tokens * self.output) / 1e6


FREE = Price(0.0, 0.0)

BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "o4-mini": Price(1.10, 4.40, 0.275),
    # Google Gemini (prompts up to 200k tokens)
    "gemini-2.5-pro": Price(1.25, 10.00, 0.125),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.01),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
    # Anthropic (cached = prompt-cache reads)
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
}


def _builtin(model: str) -> Price | None:
    """Exact name, else the longest table name the model starts with (dated snapshots: 'claude-haiku-4-5-20251001')."""
    if model in BUILTIN_PRICES:
        return BUILTIN_PRICES[model]
    matches = [name for name in BUILTIN_PRICES if model.startswith(name + "-")]
    return BUILTIN_PRICES[max(matches, key=len)] if matches else None


def price_of(model: str, config: ProjectConfig) -> Price | None:
    """`[prices."MODEL"]` if set, else the built-in table; None when neither knows the model."""
    own = config.prices.get(model)
    if own is not None:
        return Price(own.input_per_mtok, own.output_per_mtok, own.cached_input_per_mtok, own.batch_discount)
    return _builtin(model)
