"""clusterlab's benchmark suite: the groups it runs, including benchmarks written on their own.

Nothing heavy is imported here: ``python -m benchmarks`` must be able to restart itself
with a clean BLAS environment before numpy is loaded.

``python -m benchmarks`` runs every group; ``--only`` picks some. A separate benchmark
module with a ``run(quick) -> list[dict]`` function (``silhouette``, ``scaleout``) joins
the suite when it exists: its rows are turned into the suite's rows here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks._harness import Context, Row

REFERENCE = "sklearn"
# Time goal against scikit-learn for separately written benchmarks, by module.
EXTERNAL_GOALS = {"silhouette": 0.2, "scaleout": None}
NAME_ALIASES = {"scikit-learn": REFERENCE, "sklearn": REFERENCE}


def groups() -> dict[str, Callable[[Context], list[Row]]]:
    """Every group of cases by name, in the order they run."""
    from benchmarks import agglomerative, dbscan, fits, kmeans, overhead, startup

    found: dict[str, Callable[[Context], list[Row]]] = {
        "kmeans": kmeans.run,
        "dbscan": dbscan.run,
        "agglomerative": agglomerative.run,
        "hdbscan": importlib.import_module("benchmarks.hdbscan").run,
        "spectral": importlib.import_module("benchmarks.spectral").run,
        "gmm": importlib.import_module("benchmarks.gmm").run,
    }
    for name in EXTERNAL_GOALS:
        if importlib.util.find_spec(f"benchmarks.{name}") is not None:
            found[name] = _external(name)
    found["scaling"] = lambda ctx: [
        *kmeans.scaling(ctx),
        *dbscan.scaling(ctx),
        *agglomerative.scaling(ctx),
    ]
    found["fits"] = fits.run
    found["overhead"] = overhead.run
    found["startup"] = startup.run
    return found


def _external(name: str) -> Callable[[Context], list[Row]]:
    def run(ctx: Context) -> list[Row]:
        module = importlib.import_module(f"benchmarks.{name}")
        kwargs: dict[str, Any] = {}
        if "device" in inspect.signature(module.run).parameters:
            kwargs["device"] = ctx.device
        from benchmarks._harness import Row

        ctx.log(f"{name} ...")
        try:
            records = module.run(ctx.quick, **kwargs)
        except AssertionError as why:
            return [Row(name, "all", error=f"results differ: {why}")]
        return adopt(name, records)

    return run


def adopt(group: str, records: list[dict[str, Any]]) -> list[Row]:
    """Turn a separate benchmark's records into rows.

    Records with ``implementation`` and ``median_s`` (one per implementation and size)
    become one row per size with a time goal; any other record becomes a row of its own,
    without a goal, the record kept in ``params``.
    """
    from benchmarks._harness import Row, Target

    rows: dict[tuple[Any, ...], Row] = {}
    others = []
    goal = EXTERNAL_GOALS.get(group)
    for record in records:
        if "implementation" not in record or "median_s" not in record:
            others.append(record)
            continue
        size = (record.get("n_samples"), record.get("n_features"))
        if size not in rows:
            n, d = size
            case = f"n={n // 1000}k d={d}" if isinstance(n, int) else str(record.get("benchmark"))
            targets = [Target("time", REFERENCE, goal)] if goal is not None else []
            rows[size] = Row(group, case, params={"n": n, "d": d}, targets=targets)
            rows[size].agreement = "checked by the benchmark itself"
        name = NAME_ALIASES.get(str(record["implementation"]), str(record["implementation"]))
        row = rows[size]
        row.samples[name] = [float(v) for v in record.get("times_s", [record["median_s"]])]
        row.times[name] = float(record["median_s"])
    adopted = [row.settle() for row in rows.values()]
    for index, record in enumerate(others):
        adopted.append(_plain_row(group, index, record))
    return adopted


def _plain_row(group: str, index: int, record: dict[str, Any]) -> Row:
    """A record of another shape: named by its text and integer fields, ``wall_s`` its time.

    A record with ``goal_speedup`` and ``local_wall_s`` (the scale-out grids) gets the goal
    of finishing that many times faster than the ``local`` executor: a time of at most
    ``1 / goal_speedup`` of local's.
    """
    from benchmarks._harness import Row, Target

    named = [
        f"{k} {v}" for k, v in record.items() if isinstance(v, str | int) and not k.endswith("_s")
    ]
    case = ", ".join(named) or f"record {index}"
    row = Row(group, case, params=dict(record), agreement="checked by the benchmark itself")
    if isinstance(record.get("wall_s"), int | float):
        row.times["clusterlab"] = float(record["wall_s"])
    shown = ("wall_s", "local_wall_s", "goal_speedup")
    numbers = [f"{k} {v:.3g}" for k, v in record.items() if isinstance(v, float) and k not in shown]
    if numbers:
        row.notes.append(", ".join(numbers))
    if "goal_speedup" in record and "local_wall_s" in record:
        row.times["local"] = float(record["local_wall_s"])
        row.targets.append(Target("time", "local", 1.0 / float(record["goal_speedup"])))
        row.notes.append(f"goal: {record['goal_speedup']:g}× faster than local")
        row.settle()
    return row
