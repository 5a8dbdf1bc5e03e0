"""Checks one parameter value against what its plugin declares it allows.

Two declarations are read, one value at a time, so that a bad value is reported at its
own key with the values allowed:

- the ``_parameter_constraints`` table that scikit-learn estimators carry (and the
  project's torch estimators, in the same format): ``{name: [constraint, ...]}``, the
  value allowed when any constraint of its list is satisfied;
- a ``Literal[...]`` annotation in the signature (read into
  :attr:`clusterlab.registry.Param.choices`), the way metrics, datasets and
  preprocessors declare their choices.
"""

from __future__ import annotations

from typing import Any

from clusterlab.registry import PluginEntry

_NO_VALIDATION = "no_validation"


def value_problem(entry: PluginEntry, name: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for parameter ``name`` of ``entry``, or ``None`` if it is
    (also where nothing is declared for ``name``).

    The message names the value and what is allowed: ``invalid value: n_clusters=0;
    algorithm 'kmeans' takes an int in the range [1, inf)``.
    """
    allowed = allowed_values(entry, name, value)
    if allowed is None:
        return None
    return f"invalid value: {name}={value!r}; {entry.kind} '{entry.name}' takes {allowed}"


def allowed_values(entry: PluginEntry, name: str, value: Any) -> str | None:
    """What parameter ``name`` allows, in words, when ``value`` is not among it; else ``None``."""
    table = getattr(entry.obj, "_parameter_constraints", None)
    if isinstance(table, dict) and name in table:
        allowed = _table_allows(table[name], value)
        if allowed is not None:
            return allowed
    param = entry.params.get(name)
    if param is not None and param.choices is not None and not _among(value, param.choices):
        return f"one of {', '.join(map(repr, param.choices))}"
    return None


def _among(value: Any, choices: tuple[Any, ...]) -> bool:
    # ``True == 1`` in Python: a YAML ``true`` must not pass for a ``Literal[1]``.
    return any(value == choice and type(value) is type(choice) for choice in choices)


def _table_allows(constraints: Any, value: Any) -> str | None:
    """What scikit-learn's constraints allow, when ``value`` satisfies none of them.

    The constraint objects are built by ``sklearn.utils._param_validation.make_constraint``:
    a private helper, but the only reader of that table format (strings such as
    ``"array-like"``, types, ``None``, ``Interval``, ``StrOptions``), and the estimators
    that carry the table import the same module. Kept to this one function so that a
    change in scikit-learn touches one place; a table this cannot read is not checked
    (the estimator still checks it in ``fit``).
    """
    if constraints == _NO_VALIDATION:
        return None
    from sklearn.utils._param_validation import make_constraint

    try:
        built = [make_constraint(constraint) for constraint in constraints]
    except (TypeError, ValueError):
        return None
    if any(constraint.is_satisfied_by(value) for constraint in built):
        return None
    shown = [str(constraint) for constraint in built if not constraint.hidden]
    if not shown:
        return None
    # Written as scikit-learn writes it: "an int in the range [1, inf) or None".
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
