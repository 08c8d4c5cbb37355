"""Which way is better for a metric: direction by meaning, not by sign.

Libraries disagree on signs: backtesting.py reports ``Max. Drawdown [%]`` as -33.9,
others as 33.9. A direction says how to judge a change, so that the diff's verdicts,
the report's colours and the ``--fail-on`` rules agree whichever sign a library uses:

``higher``
    a larger value is better (sharpe, returns, pnl).
``lower``
    a smaller value is better (volatility).
``magnitude``
    a smaller absolute value is better, whatever the sign (drawdowns, losses, costs):
    -33.9 -> -56.6 and 33.9 -> 56.6 both get worse.
``none``
    no direction: changes are shown but never called better or worse (the default for
    a metric nothing below names).

Metric names are matched on their words, case-insensitively: ``"Max. Drawdown [%]"``,
``max_drawdown_pct``, ``maxDrawdown`` and ``stats.max_drawdown`` all hold the word
``drawdown``. A name matches when a run of its words spells the pattern
(``win_rate`` matches ``"Win Rate [%]"`` and ``winrate``). The first row of
:data:`BUILTIN` that matches decides; a user declaration (:func:`parse_direction`,
``NAME:higher|lower|magnitude|none``) matches the same way and beats the table, the
longest declared name winning among several (a later one on a tie).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pytest_artifact_store.errors import ArtifactStoreError

Direction = Literal["higher", "lower", "magnitude"]
Judgement = Literal["better", "worse", "same"]
_SPELLED: dict[str, Direction | None] = {d: d for d in get_args(Direction)} | {"none": None}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")

# (pattern, direction), first match wins: the exceptions come before the words they hold.
BUILTIN: tuple[tuple[str, Direction | None], ...] = (
    # the benchmark's return, not the strategy's; a stop loss is a setting
    ("buy_hold", None),
    ("buy_and_hold", None),
    ("stop_loss", None),
    # profit-and-loss and win/loss are gains, though they hold "loss"
    ("profit_loss", "higher"),
    ("profit_and_loss", "higher"),
    ("win_loss", "higher"),
    # costs by nature, reported negative by some libraries and positive by others
    ("drawdown", "magnitude"),
    ("drawdowns", "magnitude"),
    ("ulcer", "magnitude"),
    ("loss", "magnitude"),
    ("losses", "magnitude"),
    ("fee", "magnitude"),
    ("fees", "magnitude"),
    ("commission", "magnitude"),
    ("commissions", "magnitude"),
    ("slippage", "magnitude"),
    ("cost", "magnitude"),
    ("costs", "magnitude"),
    ("volatility", "lower"),
    ("sharpe", "higher"),
    ("sortino", "higher"),
    ("calmar", "higher"),
    ("return", "higher"),
    ("returns", "higher"),
    ("pnl", "higher"),
    ("profit", "higher"),
    ("final_equity", "higher"),
    ("equity_final", "higher"),
    ("win_rate", "higher"),
    ("sqn", "higher"),
    ("expectancy", "higher"),
    ("cagr", "higher"),
)


def words(name: str) -> list[str]:
    """The lower-case words of a metric name: ``"Max. Drawdown [%]"`` -> max, drawdown."""
    return _WORD.findall(_CAMEL.sub("_", name).lower())


def _spells(tokens: Sequence[str], pattern: str) -> bool:
    """Whether a run of consecutive ``tokens`` joins up to ``pattern`` (words joined)."""
    for start in range(len(tokens)):
        joined = ""
        for token in tokens[start:]:
            joined += token
            if joined == pattern:
                return True
            if len(joined) >= len(pattern):
                break
    return False


def parse_direction(text: str) -> tuple[str, Direction | None]:
    """``NAME:higher|lower|magnitude|none`` -> (NAME, direction); ``none`` is None.

    The last colon separates, so a name may hold colons; spaces around either part go.
    """
    name, colon, word = text.rpartition(":")
    name, word = name.strip(), word.strip().lower()
    if not colon or word not in _SPELLED:
        raise ArtifactStoreError(
            f"invalid metric direction {text!r}: expected NAME:higher, NAME:lower, "
            "NAME:magnitude (smaller absolute value is better) or NAME:none "
            "(e.g. max_drawdown:magnitude)"
        )
    if not words(name):
        raise ArtifactStoreError(
            f"invalid metric direction {text!r}: {name!r} names no metric "
            "(it needs a letter or digit)"
        )
    return name, _SPELLED[word]


@dataclass(frozen=True)
class Directions:
    """The built-in table (:data:`BUILTIN`) plus the user's declarations.

    ``Directions()`` is the table alone; :meth:`from_strings` adds declarations
    written as ``NAME:direction``.
    """

    declared: tuple[tuple[str, Direction | None], ...] = ()

    def __post_init__(self) -> None:
        for name, direction in self.declared:
            if direction is not None and direction not in get_args(Direction):
                raise ArtifactStoreError(f"invalid direction {direction!r} for metric {name!r}")

    @classmethod
    def from_strings(cls, texts: Iterable[str], *, source: str | None = None) -> Directions:
        """The table plus ``NAME:direction`` declarations (an ini linelist, CLI values).

        A bad line is an ArtifactStoreError naming it, and ``source`` when given
        ("... (from pytest.ini)").
        """
        pairs = []
        for text in texts:
            if not text.strip():
                continue
            try:
                pairs.append(parse_direction(text))
            except ArtifactStoreError as exc:
                where = f" (from {source})" if source else ""
                raise ArtifactStoreError(f"{exc}{where}") from exc
        return cls(tuple(pairs))

    def of(self, metric: str) -> Direction | None:
        """The direction of ``metric``: a declaration, else the table, else None."""
        tokens = words(metric)
        best: tuple[int, Direction | None] | None = None
        for name, direction in self.declared:
            pattern = "".join(words(name))
            if _spells(tokens, pattern) and (best is None or len(pattern) >= best[0]):
                best = (len(pattern), direction)
        if best is not None:
            return best[1]
        for pattern, direction in BUILTIN:
            if _spells(tokens, pattern.replace("_", "")):
                return direction
        return None

    def judge(self, metric: str, a: float | None, b: float | None) -> Judgement | None:
        """Whether B is better, worse or the same as A; None without a direction or a value."""
        return judge(self.of(metric), a, b)


def judge(direction: Direction | None, a: float | None, b: float | None) -> Judgement | None:
    """``better``/``worse``/``same`` for a change from a to b, by ``direction``."""
    if direction is None or a is None or b is None:
        return None
    if direction == "magnitude":
        a, b = abs(a), abs(b)
    if abs(b - a) <= 1e-12 * max(1.0, abs(a), abs(b)):
        return "same"
    rose = b > a
    return "better" if rose == (direction == "higher") else "worse"


DEFAULT = Directions()
