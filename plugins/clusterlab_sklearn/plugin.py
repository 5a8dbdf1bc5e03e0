"""Registers scikit-learn's clusterers and mixtures as ``sklearn.<ClassName>`` algorithms.

Each class is wrapped by a thin subclass that keeps its ``__init__`` (so its parameters
are read from scikit-learn's own signature), moves torch tensors to numpy on the CPU
before scikit-learn sees them, gives mixtures a ``labels_`` from ``predict``, and refuses
the parameter values an experiment file must not give (see :func:`file_value_problem`).
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

from clusterlab import hookimpl

MODULES = ("sklearn.cluster", "sklearn.mixture")

# Classes of those modules that do not assign samples to clusters, with the reason.
EXCLUDED = {
    "FeatureAgglomeration": "clusters features, not samples",
}

# Methods whose first argument is the data; the wrapper converts it before calling them.
_DATA_METHODS = (
    "predict",
    "predict_proba",
    "score",
    "score_samples",
    "transform",
    "fit_transform",
)

_wrappers: dict[str, type] = {}

# What an experiment file may give a scikit-learn parameter, at any depth of a list.
_PLAIN_SCALARS = (bool, int, float, str, type(None))

# Why a free string is refused, for the parameters whose string is a path.
_PATH_REASONS = {
    "memory": "a joblib cache folder, whose files joblib unpickles: loading them can run code",
}


def to_numpy(X: Any) -> Any:
    """A torch tensor as a numpy array of its own on the CPU; anything else unchanged.

    A CPU tensor is copied, not shared: some scikit-learn estimators write into their
    input (``copy=False``), and the same tensor feeds the next trials.
    """
    import torch

    if isinstance(X, torch.Tensor):
        array = X.detach().cpu().numpy()
        return array.copy() if X.device.type == "cpu" else array
    return X


def sample_clusterers() -> dict[str, type]:
    """scikit-learn's classes that cluster samples, by class name.

    Those with ``fit`` that either set ``labels_`` (clusterers) or ``predict`` a
    component (mixtures); biclusterers label rows and columns instead and are left out,
    as are the classes in :data:`EXCLUDED`.
    """
    import importlib

    from sklearn.base import BiclusterMixin, ClusterMixin

    found: dict[str, type] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", dir(module)):
            cls = getattr(module, name)
            if (
                not inspect.isclass(cls)
                or inspect.isabstract(cls)
                or not hasattr(cls, "fit")
                or issubclass(cls, BiclusterMixin)
                or name in EXCLUDED
            ):
                continue
            if issubclass(cls, ClusterMixin) or hasattr(cls, "predict"):
                found[name] = cls
    return found


def file_value_problem(cls: type, name: str, value: Any) -> str | None:
    """Why ``value`` may not be given to parameter ``name`` of scikit-learn's ``cls`` from
    an experiment file, or ``None`` where it may.

    An experiment file gives plain data only: numbers, booleans, None, strings and lists
    of those. Of what scikit-learn's ``_parameter_constraints`` accept, a file keeps the
    plain constraints (intervals, named options such as ``StrOptions``, booleans, None,
    number types) and refuses a value that only a constraint able to run code or read
    files accepts: any string (a path, such as ``memory``'s cache folder), a callable, an
    object with given methods, any other class. An array is refused where the parameter
    also takes a callable or an object (``connectivity``, ``init``), and kept elsewhere
    (``means_init``). A value no constraint accepts is left to the constraint check,
    which says what is allowed.
    """
    if not _is_plain(value):
        noun = "mapping" if isinstance(value, dict) else type(value).__name__
        return (
            "an experiment file gives scikit-learn numbers, booleans, null, strings and "
            f"lists of those, not {_a(noun)}"
        )
    constraints = getattr(cls, "_parameter_constraints", {}).get(name)
    if not isinstance(constraints, list):
        return None
    from sklearn.utils._param_validation import make_constraint

    kinds = [_constraint_kind(constraint) for constraint in constraints]
    accepted = {
        kind
        for constraint, kind in zip(constraints, kinds, strict=True)
        if make_constraint(constraint).is_satisfied_by(value)
    }
    if not accepted or "plain" in accepted:
        return None
    takes_code = bool(set(kinds) - {"plain", "array"})
    if accepted == {"array"} and not takes_code:
        return None
    allowed = _plain_allowed(constraints, kinds)
    if "path" in accepted:
        what = _PATH_REASONS.get(name, "a path, or a name it looks up")
        return f"scikit-learn reads any string here as {what}; a file may set it to {allowed}"
    if accepted == {"array"}:
        return (
            f"'{name}' also takes a callable or an object, so a file gives it only {allowed}, "
            "not an array"
        )
    return f"'{name}' takes any object here; a file may set it to {allowed}"


def _is_plain(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    return isinstance(value, _PLAIN_SCALARS)


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _constraint_kind(constraint: Any) -> str:
    """``plain`` (data that runs nothing), ``array``, ``path`` (any string) or ``code`` (a
    callable, an object, any other class) for one entry of a constraints list."""
    from sklearn.utils._param_validation import Hidden, Interval, Options

    if isinstance(constraint, Hidden):
        return _constraint_kind(constraint.constraint)
    if constraint is None or isinstance(constraint, Interval | Options):
        return "plain"
    if isinstance(constraint, str):
        if constraint in ("boolean", "verbose", "nan", "random_state"):
            return "plain"
        return "array" if constraint == "array-like" else "code"
    if isinstance(constraint, type):
        if issubclass(constraint, str):
            return "path"
        return "plain" if issubclass(constraint, numbers.Number) else "code"
    return "code"


def _plain_allowed(constraints: list[Any], kinds: list[str]) -> str:
    """The plain constraints in words: what a file may still set the parameter to."""
    from sklearn.utils._param_validation import make_constraint

    built = [
        make_constraint(constraint)
        for constraint, kind in zip(constraints, kinds, strict=True)
        if kind == "plain"
    ]
    shown = [str(constraint) for constraint in built if not constraint.hidden]
    if not shown:
        return "nothing: leave it at its default"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _wrap_data_method(base: type, method_name: str) -> Any:
    original = getattr(base, method_name)

    def method(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, to_numpy(X), *args, **kwargs)

    method.__name__ = method_name
    method.__doc__ = original.__doc__
    return method


def wrap(cls: type) -> type:
    """A subclass of scikit-learn's ``cls`` that takes torch tensors and sets ``labels_``.

    ``fit`` converts ``X``, calls scikit-learn, and where the class has no ``labels_``
    after fitting (mixtures) sets ``labels_ = predict(X)``. The subclass keeps the name,
    docstring and ``__init__`` of ``cls``; it is cached, so wrapping twice gives the
    same class.
    """
    if cls.__name__ in _wrappers and _wrappers[cls.__name__].__bases__ == (cls,):
        return _wrappers[cls.__name__]

    def fit(self: Any, X: Any, y: Any = None, **kwargs: Any) -> Any:
        data = to_numpy(X)
        # Labels of an earlier fit must not pass for this one's.
        vars(self).pop("labels_", None)
        cls.fit(self, data, y, **kwargs)
        if getattr(self, "labels_", None) is None and hasattr(self, "predict"):
            self.labels_ = self.predict(data)
        labels = getattr(self, "labels_", None)
        if labels is None or len(labels) != len(data):
            raise TypeError(
                f"{cls.__name__} did not assign the {len(data)} samples to clusters: "
                "it has no labels_ of one label per sample and no predict"
            )
        return self

    def fit_predict(self: Any, X: Any, y: Any = None, **kwargs: Any) -> Any:
        # scikit-learn's own fit_predict: mixtures fit through it, clusterers call fit.
        labels = cls.fit_predict(self, to_numpy(X), y, **kwargs)
        self.labels_ = labels
        return labels

    def clusterlab_value_problem(name: str, value: Any) -> str | None:
        # Read by clusterlab's checks before any trial: see file_value_problem.
        return file_value_problem(cls, name, value)

    fit.__doc__ = cls.fit.__doc__
    fit_predict.__doc__ = cls.fit_predict.__doc__
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": cls.__name__,
        "__doc__": cls.__doc__,
        "fit": fit,
        "fit_predict": fit_predict,
        "clusterlab_value_problem": staticmethod(clusterlab_value_problem),
    }
    for method_name in _DATA_METHODS:
        if hasattr(cls, method_name):
            namespace[method_name] = _wrap_data_method(cls, method_name)
    wrapper = type(cls.__name__, (cls,), namespace)
    _wrappers[cls.__name__] = wrapper
    return wrapper


def __getattr__(name: str) -> type:
    # Wrappers live in this module under their class names so that pickle finds them;
    # they are built on first use to keep importing this plugin cheap.
    if name in _wrappers:
        return _wrappers[name]
    if name.startswith("_") or not name[:1].isupper():
        raise AttributeError(name)
    clusterers = sample_clusterers()
    if name not in clusterers:
        raise AttributeError(name)
    return wrap(clusterers[name])


@hookimpl
def register_algorithms(register: Any) -> None:
    """Register every scikit-learn clusterer and mixture as ``sklearn.<ClassName>``."""
    for name, cls in sorted(sample_clusterers().items()):
        register(f"sklearn.{name}", wrap(cls))
