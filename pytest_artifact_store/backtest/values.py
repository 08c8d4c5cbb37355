"""Turn the values backtest libraries produce into JSON for metadata.json, and tables into CSV.

numpy and pandas are never imported here: a value is recognised by the module its type
comes from, and converted through its own methods (``item()``, ``tolist()``, ``to_csv()``).

What converts (nested in dicts, lists and tuples too):

* numpy scalars (``np.float64``, ``np.int64``, ``np.bool_``...) -> the Python number or bool;
* ``datetime``/``pandas.Timestamp``/``np.datetime64`` -> a UTC ISO string
  (``2004-08-19T00:00:00.000000Z``; a naive time is taken as UTC); ``date`` -> ``2004-08-19``;
* ``timedelta``/``pandas.Timedelta``/``np.timedelta64`` -> seconds (a float);
* numpy arrays and pandas Index -> lists; a pandas Series -> a list (default 0..n-1 index)
  or a dict keyed by its index;
* NaN, Infinity, ``NaT`` and ``pd.NA`` -> an error, or None with ``missing_to_none=True``
  (metadata.json cannot hold NaN).

Anything else (a DataFrame, a set, bytes, an arbitrary object) is an error naming where it
sits (``metric 'x'['a'][2]``) and its type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pytest_artifact_store.timestamps import format_utc

SUPPORTED = (
    "str, int, float, bool, None, dicts and lists of them, numpy scalars and arrays, "
    "datetime/date/timedelta, pandas Timestamp/Timedelta/Series"
)
_MISSING_TYPES = frozenset({"NaTType", "NAType"})


def type_name(value: object) -> str:
    """``pandas.DataFrame``, ``numpy.float64``, ``int``: how errors name a value's type."""
    cls = type(value)
    module = cls.__module__.split(".")[0]
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def from_package(value: object, package: str) -> bool:
    """Whether ``value``'s class, or one of its bases, is defined in ``package``."""
    return any(cls.__module__.split(".")[0] == package for cls in type(value).__mro__)


def backtest_library(value: object) -> str | None:
    """The library whose result ``value`` is ("backtesting.py", "backtrader", "vectorbt")."""
    if from_package(value, "backtesting") and hasattr(value, "index") and hasattr(value, "get"):
        return "backtesting.py"  # Backtest.run()'s stats, a pandas Series subclass
    if _backtrader_strategy(value):
        return "backtrader"  # a finished strategy
    if isinstance(value, list) and value and all(_backtrader_strategy(item) for item in value):
        return "backtrader"  # cerebro.run()'s list
    if from_package(value, "vectorbt") and all(
        hasattr(value, attr) for attr in ("stats", "trades", "value")
    ):
        return "vectorbt"  # a Portfolio
    return None


def _backtrader_strategy(value: object) -> bool:
    """A backtrader Strategy, or the OptReturn an optimisation gives in its place."""
    return any(
        cls.__module__.startswith("backtrader.") and cls.__name__ in ("Strategy", "OptReturn")
        for cls in type(value).__mro__
    )


def is_table(value: object) -> bool:
    """A pandas DataFrame or Series (what :func:`table_csv` writes)."""
    return from_package(value, "pandas") and getattr(value, "ndim", 0) in (1, 2)


def table_csv(table: Any) -> bytes:
    """A pandas DataFrame or Series as UTF-8 CSV; a default 0..n-1 index is left out."""
    frame = table.to_frame() if table.ndim == 1 else table
    if type(frame.index).__name__ == "RangeIndex":
        text = frame.to_csv(index=False)
    else:
        text = frame.to_csv(index_label=frame.index.name or "index")
    return str(text).encode()


def to_json(value: object, *, what: str, missing_to_none: bool = False) -> Any:
    """``value`` as plain JSON data; ``what`` names it in errors (``"metric 'sharpe'"``).

    Raises ValueError for NaN/Infinity/NaT (unless ``missing_to_none``) and TypeError for
    a value that cannot be converted (for a backtest result: naming ``record_backtest``).
    """
    library = backtest_library(value)
    if library is not None:
        raise TypeError(
            f"{what} is a {library} result ({type_name(value)}): record it with "
            "artifact_store.record_backtest(result), or take its metrics from "
            "pytest_artifact_store.backtest.extract(result).metrics"
        )
    return _convert(value, what, missing_to_none)


def _convert(value: object, where: str, none: bool) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        if isinstance(value, str):
            return str(value)  # np.str_ -> str
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(value, float):
        return _finite(float(value), where, none)
    if type(value).__name__ in _MISSING_TYPES:
        return _missing(value, where, none)
    if isinstance(value, datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return format_utc(when)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {
            _key(key, where): _convert(item, f"{where}[{key!r}]", none)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_convert(item, f"{where}[{i}]", none) for i, item in enumerate(value)]
    if from_package(value, "numpy"):
        return _convert(_from_numpy(value), where, none)
    if from_package(value, "pandas"):
        return _convert_pandas(value, where, none)
    raise TypeError(
        f"{where} is of type {type_name(value)}, which is not JSON-serialisable and has "
        f"no conversion (supported: {SUPPORTED})"
    )


def _finite(value: float, where: str, none: bool) -> float | None:
    if math.isfinite(value):
        return value
    if none:
        return None
    raise ValueError(
        f"{where} is {value}, which metadata.json cannot hold; record None (or a string) instead"
    )


def _missing(value: object, where: str, none: bool) -> None:
    if none:
        return None
    raise ValueError(
        f"{where} is {value} (a missing value), which metadata.json cannot hold; "
        "record None instead"
    )


def _from_numpy(value: Any) -> Any:
    """A numpy scalar or array as Python objects (datetimes and durations at microseconds)."""
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if kind == "M":
        value = value.astype("datetime64[us]")
    elif kind == "m":
        value = value.astype("timedelta64[us]")
    if hasattr(value, "tolist"):
        converted = value.tolist()
        if kind in ("M", "m") and converted is None:
            return float("nan")  # NaT: a missing value
        return converted
    raise TypeError(f"a {type_name(value)} has no tolist()")


def _convert_pandas(value: Any, where: str, none: bool) -> Any:
    ndim = getattr(value, "ndim", None)
    if ndim == 1 and hasattr(value, "index") and hasattr(value, "items"):  # a Series
        if type(value.index).__name__ == "RangeIndex":
            return _convert(list(value), where, none)
        return _convert(dict(value.items()), where, none)
    if ndim == 1 and hasattr(value, "tolist"):  # an Index
        return _convert(value.tolist(), where, none)
    hint = " (commit a table with artifact_store.add(frame, name='table.csv'))" if ndim else ""
    raise TypeError(
        f"{where} is of type {type_name(value)}, which is not JSON-serialisable and has "
        f"no conversion{hint} (supported: {SUPPORTED})"
    )


def _key(key: object, where: str) -> str:
    """A dict key as JSON writes it; datetimes (a Series' DatetimeIndex) as ISO strings."""
    if isinstance(key, str):
        return str(key)
    converted = _convert(key, f"{where} key {key!r}", False)
    if isinstance(converted, str):
        return converted
    if isinstance(converted, (int, float, bool)) or converted is None:
        return json.dumps(converted)
    raise TypeError(
        f"{where} has the key {key!r} (of type {type_name(key)}), which JSON cannot hold"
    )
