"""Estimator parameters declared once, as annotated class fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

Estimator = TypeVar("Estimator", bound=type)


def estimator_params(cls: Estimator) -> Estimator:
    """Give ``cls`` the ``__init__`` scikit-learn asks of an estimator, from its annotated
    fields: one argument per field with the field's default, stored unchanged under the
    same name, so that ``get_params``, ``clone`` and ``set_params`` see them. Fields after
    ``dataclasses.KW_ONLY`` are keyword-only. Equality, ``repr`` and hashing stay
    scikit-learn's; class-level constants must be annotated ``ClassVar``."""
    return dataclass(eq=False, repr=False)(cls)
