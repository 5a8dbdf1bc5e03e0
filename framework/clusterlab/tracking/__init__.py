"""The tracking layer: the only part of clusterlab that talks to MLflow.

``tags`` names every tag, ``uri`` chooses the store, ``store`` holds the :class:`Tracker`
(the writes, and the queries the runner, the executors and ``report`` ask), ``retry``
retries a busy sqlite store, and ``figures`` saves figures as artifacts.
"""

from clusterlab.tracking.store import ReadOnlyStore, Tracker
from clusterlab.tracking.uri import DEFAULT_TRACKING_URI, absolute_store_uri, resolve_tracking_uri

__all__ = [
    "DEFAULT_TRACKING_URI",
    "ReadOnlyStore",
    "Tracker",
    "absolute_store_uri",
    "resolve_tracking_uri",
]
