"""Estimated cost at batch prices, from a small dated table that users can override.

Prices are USD per million tokens at the Batch API's rate (half the interactive rate),
as listed on the Gemini pricing page around the date below. Re-check before relying on
them; override with a TOML file (`[prices."model"] input = ... output = ...`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_AS_OF = "2026-04"


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float


# Pro models cost more above 200k prompt tokens per request; the table uses the
# lower tier, so estimates for very long Pro prompts run low.
BATCH_PRICES: dict[str, Price] = {
    "gemini-3.1-pro-preview": Price(1.00, 6.00),
    "gemini-3-flash-preview": Price(0.25, 1.50),
    "gemini-3.1-flash-lite-preview": Price(0.125, 0.75),
    "gemini-2.5-pro": Price(0.625, 5.00),
    "gemini-2.5-flash": Price(0.15, 1.25),
    "gemini-2.5-flash-lite": Price(0.05, 0.20),
    "gemini-2.0-flash": Price(0.05, 0.20),
    "gemini-embedding-001": Price(0.075, 0.0),
}


class PriceError(Exception):
    """The price override file is unreadable or malformed."""


def load_overrides(path: Path) -> dict[str, Price]:
    # Imported here: every cost figure reads this module, few runs read a price file,
    # and the TOML parser costs `--help` a tenth of its start-up.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PriceError(f"{path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise PriceError(f"{path}: not valid TOML ({error})") from None
    return parse_prices(data.get("prices", data), str(path))


def parse_prices(table: Any, where: str) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    if not isinstance(table, dict):
        raise PriceError(f"{where}: prices must be a table of models")
    for model, entry in table.items():
        if not isinstance(entry, dict):
            raise PriceError(f"{where}: prices.{model} must be a table with input and output")
        try:
            prices[model] = Price(float(entry["input"]), float(entry.get("output", 0.0)))
        except (KeyError, TypeError, ValueError):
            raise PriceError(
                f"{where}: prices.{model} needs numbers for input and output "
                "(USD per million tokens)"
            ) from None
    return prices


def price_for(model: str | None, overrides: dict[str, Price] | None = None) -> Price | None:
    if not model:
        return None
    name = model.removeprefix("models/")
    overrides = overrides or {}
    exact = overrides.get(name) or BATCH_PRICES.get(name)  # (asked once per job: no merge)
    if exact is not None:
        return exact
    table = {**BATCH_PRICES, **overrides}
    # Dated variants (`gemini-2.5-flash-001`) cost what their family costs.
    family = max((known for known in table if name.startswith(known)), key=len, default=None)
    return table[family] if family else None


def estimate(usage: dict[str, int], price: Price | None) -> float | None:
    """Dollars for one job's token usage; cached tokens are counted at the input rate."""
    if price is None or not usage:
        return None
    return at_price(*token_counts(usage), price)


def token_counts(usage: dict[str, int]) -> tuple[int, int]:
    """Input and output tokens of a usage record (thinking is billed as output)."""
    output = tokens(usage, "candidatesTokenCount") + tokens(usage, "thoughtsTokenCount")
    return tokens(usage, "promptTokenCount"), output


def at_price(prompt: int, output: int, price: Price) -> float:
    return (prompt * price.input + output * price.output) / 1_000_000


def tokens(usage: dict[str, int], key: str) -> int:
    """A token count from a usage record; anything but a whole number counts as 0."""
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def dollars(amount: float | None, against: float | None = None) -> str:
    """Money, one way everywhere: cents from $1 up and four decimals below, more where
    the amount has them (a budget of $1.135 reads $1.135, not $1.14), and always enough
    that it reads differently from `against`, the amount it is compared with (never
    "$1.13 is more than $1.13")."""
    if amount is None:
        return "unknown"
    if 0 < amount < 0.00005:  # would print as $0.0000, which reads as free
        return "<$0.0001"
    least = 2 if amount >= 1 else 4
    places = least
    while places < 4 and round(amount, places) != round(amount, 4):
        places += 1  # the digits it has, up to four
    if against is not None and against != amount:
        while places < 10 and round(amount, places) == round(against, places):
            places += 1
    return f"${amount:,.{places}f}"
