"""Reading a trials table: its parameter and score columns, and its values as text.

A trials table has one row per finished trial: ``dataset``, ``algorithm``, ``seed``,
``run_id``, one column per parameter (``dataset.<p>``, ``algorithm.<p>``) and one column
per score, named after its metric. The summaries and the comparison tables share these
readers, so that both tell settings apart and print values the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PARAM_PREFIXES = ("dataset.", "algorithm.")


def param_columns(df: pd.DataFrame) -> list[str]:
    """The parameter columns of a trials table (``dataset.*`` then ``algorithm.*``), in order."""
    return [c for prefix in PARAM_PREFIXES for c in df.columns if str(c).startswith(prefix)]


def score_columns(df: pd.DataFrame, directions: Mapping[str, bool]) -> list[str]:
    """The metrics of ``directions`` that have a column in ``df``, in ``directions``' order."""
    return [name for name in directions if name in df.columns]


def short_name(column: str) -> str:
    """A parameter column's name without its ``dataset.`` or ``algorithm.`` prefix."""
    for prefix in PARAM_PREFIXES:
        if column.startswith(prefix):
            return column[len(prefix) :]
    return column


def as_text(values: pd.Series) -> pd.Series:
    """Each value as :func:`value_text`: a grouping key that treats missing as a value."""
    return values.map(value_text)


def value_text(value: Any) -> str:
    """``value`` as text for telling settings apart; a missing value is ``"\\x00"``."""
    # A missing value is a value of its own when telling settings apart.
    return "\x00" if is_missing(value) else format_value(value)


def is_missing(value: Any) -> bool:
    """Whether ``value`` is ``None`` or a scalar pandas counts as missing (NaN, NA)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def format_value(value: Any) -> str:
    """``value`` as shown in a setting or a label: whole floats as integers, numpy scalars
    as Python ones."""
    # Integer parameters turn into floats in a table with gaps (4 -> 4.0): show them as 4.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):
        return format_value(value.item())
    return str(value)
