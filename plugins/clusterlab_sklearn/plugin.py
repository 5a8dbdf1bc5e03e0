"""Registers scikit-learn's clusterers and mixtures as ``sklearn.<ClassName>`` algorithms.

Each class is wrapped by a thin subclass that keeps its ``__init__`` (so its parameters
are read from scikit-learn's own signature), moves torch tensors to numpy on the CPU
before scikit-learn sees them, and gives mixtures a ``labels_`` from ``predict``.
"""

from __future__ import annotations

import inspect
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

    fit.__doc__ = cls.fit.__doc__
    fit_predict.__doc__ = cls.fit_predict.__doc__
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": cls.__name__,
        "__doc__": cls.__doc__,
        "fit": fit,
        "fit_predict": fit_predict,
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
