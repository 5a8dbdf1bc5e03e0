"""Runs the suite: ``python -m benchmarks [--quick] [--only GROUP ...] [--out DIR] [--device D]``.

Prints the machine and a table (case, clusterlab's time, the peers' times, the ratio to
scikit-learn, the goal, met or the gap), and writes ``results-<time>.json`` and
``.md``, ``latest.json`` and the scaling plots to the output folder. The exit status is
1 when a case's implementations disagree or a group fails, else 0 (missed goals are
reported, not failed).

OpenBLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` when numpy loads; where
they are set the suite restarts itself without them (``--keep-blas-env`` keeps them).
It also sets ``OMP_WAIT_POLICY=PASSIVE`` where the variable is not set: with several
OpenMP and BLAS thread pools in one process on a busy machine, spinning worker threads
make scikit-learn's and torch's timings jump by an order of magnitude from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks._harness import Row

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
WAIT_POLICY = "OMP_WAIT_POLICY"
RESTARTED = "CLUSTERLAB_BENCHMARKS_RESTARTED"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
GROUP_NAMES = (
    "kmeans",
    "dbscan",
    "agglomerative",
    "hdbscan",
    "gmm",
    "spectral",
    "silhouette",
    "scaleout",
    "scaling",
    "fits",
    "overhead",
    "startup",
)


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="clusterlab against scikit-learn, same run"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument(
        "--only", nargs="+", metavar="GROUP", choices=GROUP_NAMES, help="run only these groups"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the results")
    parser.add_argument("--device", default="cpu", help="clusterlab's device: cpu, cuda, cuda:N")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per case (median)")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory child processes"
    )
    parser.add_argument(
        "--keep-blas-env", action="store_true", help=f"keep {' and '.join(BLAS_VARIABLES)}"
    )
    parser.add_argument(
        "--omp-wait-policy",
        choices=("passive", "active", "unset"),
        help=f"{WAIT_POLICY} for every library (default: as set, else passive)",
    )
    return parser.parse_args(argv)


def wanted_environment(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    """The environment the suite measures in: no OpenBLAS overrides, a fixed OpenMP wait."""
    wanted = dict(env)
    if not args.keep_blas_env:
        for name in BLAS_VARIABLES:
            wanted.pop(name, None)
    policy = args.omp_wait_policy
    if policy == "unset":
        wanted.pop(WAIT_POLICY, None)
    elif policy is not None:
        wanted[WAIT_POLICY] = policy.upper()
    elif WAIT_POLICY not in wanted:
        wanted[WAIT_POLICY] = "PASSIVE"
    return wanted


def restart_if_needed(args: argparse.Namespace, argv: list[str]) -> None:
    """Replace this process by the same command in :func:`wanted_environment`, if it differs.

    Both variables are read when the libraries load, so they cannot change later.
    """
    env = dict(os.environ)
    wanted = wanted_environment(args, env)
    if wanted == env or os.environ.get(RESTARTED) == "1":
        return
    changed = sorted(set(env.items()) ^ set(wanted.items()))
    names = ", ".join(dict.fromkeys(name for name, _ in changed))
    print(f"restarting with {names} adjusted for fair timings", flush=True)
    wanted[RESTARTED] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *argv], wanted)


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, versions, BLAS, device, date."""
    import importlib.metadata
    import platform

    import threadpoolctl
    import torch

    from clusterlab.device import device_name, resolve_device

    versions = {}
    for name in ("torch", "scikit-learn", "numpy", "scipy", "faiss-cpu", "fastcluster", "mlflow"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    import importlib.util

    import numpy  # noqa: F401  (loads its BLAS, so that threadpoolctl sees it)
    import scipy.linalg  # noqa: F401
    import sklearn.cluster  # noqa: F401

    if importlib.util.find_spec("faiss") is not None:
        import faiss  # noqa: F401

    blas = [
        {
            "library": Path(info.get("filepath", "")).name,
            "api": info.get("internal_api"),
            "version": info.get("version"),
            "kernel": info.get("architecture"),
            "threads": info.get("num_threads"),
        }
        for info in threadpoolctl.threadpool_info()
    ]
    settings = torch.__config__.show().replace(",", "\n").split()
    torch_blas = next((p.split("=", 1)[1] for p in settings if p.startswith("BLAS_INFO=")), "")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": _cpu_model() or platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "versions": versions,
        "torch_threads": torch.get_num_threads(),
        "torch_blas": torch_blas,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": blas,
        "environment": {
            name: os.environ.get(name) for name in (*BLAS_VARIABLES, WAIT_POLICY, "OMP_NUM_THREADS")
        },
        "device": device,
        "device_name": device_name(resolve_device(device)),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def describe_machine(info: dict[str, Any]) -> str:
    """The machine in two lines."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    blas = "; ".join(
        f"{b['library']} {b['api']} {b['version'] or ''} kernel {b['kernel'] or '-'} "
        f"x{b['threads']}"
        for b in info["blas"]
    )
    env = ", ".join(f"{k}={v}" for k, v in info["environment"].items() if v is not None)
    return (
        f"{info['date']} · {info['cpu']} · {info['cores']} cores · device {info['device']} "
        f"({info['device_name']}) · torch threads {info['torch_threads']} "
        f"({info['torch_cpu_capability']})\n{versions}\nBLAS/OpenMP: {blas}\n"
        f"environment: {env or 'no BLAS/OpenMP variables'}"
    )


def format_seconds(value: float | None, unit: str = "s") -> str:
    """A time in the best unit: ``12.3 ms``, ``1.23 s``; ``unit`` may add ``/iter``."""
    if value is None:
        return "-"
    suffix = unit[1:] if unit.startswith("s") else ""
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs{suffix}"
    if value < 1.0:
        return f"{value * 1e3:.1f} ms{suffix}"
    return f"{value:.2f} s{suffix}"


def table_rows(rows: list[Row]) -> list[list[str]]:
    """The table's cells: a header then one line per row."""
    from benchmarks._harness import REFERENCE, SUBJECT

    lines = [["case", "clusterlab", "peers", "vs sklearn", "peak MB (cl / sk)", "goal", "outcome"]]
    for row in rows:
        peers = ", ".join(
            f"{name} {format_seconds(value, row.unit)}"
            for name, value in row.times.items()
            if name != SUBJECT
        )
        mine, theirs = row.times.get(SUBJECT), row.times.get(REFERENCE)
        ratio = f"{mine / theirs:.2f}×" if mine and theirs and row.error is None else "-"
        memory = (
            f"{row.peak_mb.get(SUBJECT, 0):.0f} / {row.peak_mb.get(REFERENCE, 0):.0f}"
            if row.peak_mb
            else ""
        )
        goals = "; ".join(t.describe() for t in row.targets)
        if row.error is not None:
            outcome = row.error
        else:
            outcome = "; ".join(t.outcome() for t in row.targets)
        lines.append(
            [
                f"{row.group} {row.case}",
                format_seconds(mine, row.unit),
                peers,
                ratio,
                memory,
                goals,
                outcome,
            ]
        )
    return lines


def render_text(cells: list[list[str]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    out = []
    for index, line in enumerate(cells):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def render_markdown(cells: list[list[str]]) -> str:
    """The same table in Markdown."""
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in cells[1:]]
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    """How each case's results agreed, and its notes, one line each."""
    lines = []
    for row in rows:
        said = "; ".join(part for part in [row.agreement, *row.notes] if part)
        if said:
            lines.append(f"- {row.group} {row.case}: {said}")
    return "\n".join(lines)


def plot_scaling(rows: list[Row], out_dir: Path) -> list[Path]:
    """One PNG per scaled algorithm: time and peak memory against n, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import NullFormatter

    written = []
    by_group: dict[str, list[Row]] = {}
    for row in rows:
        if row.group.startswith("scaling:"):
            by_group.setdefault(row.group.split(":", 1)[1], []).append(row)
    for algorithm, series in by_group.items():
        figure, (left, right) = pyplot.subplots(1, 2, figsize=(10, 4))
        names = list(dict.fromkeys(name for row in series for name in row.times))
        # One curve per implementation and variant (the linkage, the dimension): the
        # params other than n and eps that differ between the group's rows.
        varying = [
            key
            for key in series[0].params
            if key not in ("n", "eps") and len({repr(r.params.get(key)) for r in series}) > 1
        ]

        def variant(row: Row, varying: list[str] = varying) -> str:
            return ", ".join(f"{key}={row.params.get(key)}" for key in varying)

        for name in names:
            for label in dict.fromkeys(variant(r) for r in series):
                curve = [r for r in series if variant(r) == label]
                points = [(r.params["n"], r.times.get(name), r.peak_mb.get(name)) for r in curve]
                shown = f"{name} {label}".strip()
                left.plot(
                    [n for n, t, _ in points if t is not None],
                    [t for _, t, _ in points if t is not None],
                    marker="o",
                    label=shown,
                )
                right.plot(
                    [n for n, _, m in points if m is not None],
                    [max(m, 0.1) for _, _, m in points if m is not None],
                    marker="o",
                    label=shown,
                )
        unit = series[0].unit
        left.set(xscale="log", yscale="log", xlabel="n", ylabel=f"time ({unit})")
        right.set(xscale="log", yscale="log", xlabel="n", ylabel="peak memory growth (MB)")
        for axes in (left, right):
            axes.xaxis.set_minor_formatter(NullFormatter())
            axes.grid(True, which="both", alpha=0.3)
            axes.legend(fontsize="small")
        fixed = [
            f"{k}={v}" for k, v in series[-1].params.items() if k not in ("n", "eps", *varying)
        ]
        if "eps" in series[-1].params:
            fixed.append("eps scaled to keep the neighbour count")
        figure.suptitle(f"{algorithm} against n ({', '.join(fixed)})")
        figure.tight_layout()
        path = out_dir / f"scaling_{algorithm}.png"
        figure.savefig(path, dpi=110)
        pyplot.close(figure)
        written.append(path)
    return written


def run_groups(names: list[str], ctx: Any) -> list[Row]:
    """Run the chosen groups; a group that raises becomes an error row and the rest go on."""
    from benchmarks import groups
    from benchmarks._harness import Row

    available = groups()
    rows: list[Row] = []
    for name in names:
        if name not in available:
            ctx.log(f"{name}: not present, skipped")
            continue
        started = time.perf_counter()
        try:
            rows.extend(available[name](ctx))
        except Exception as exc:
            ctx.log(traceback.format_exc())
            rows.append(Row(name, "all", error=f"failed: {type(exc).__name__}: {exc}"))
        ctx.log(f"{name} took {time.perf_counter() - started:.0f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write its results; see the module's docstring."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    restart_if_needed(args, argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from benchmarks._harness import Context

    info = machine(args.device)
    print(describe_machine(info), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-") as scratch:
        ctx = Context(
            quick=args.quick,
            device=args.device,
            repeats=args.repeats,
            out_dir=args.out,
            scratch=Path(scratch),
            log=lambda text: print(text, flush=True),
            memory=not args.no_memory,
        )
        rows = run_groups(list(args.only or GROUP_NAMES), ctx)
    elapsed = time.perf_counter() - started
    cells = table_rows(rows)
    print()
    print(render_text(cells))
    print(details(rows))
    plots = plot_scaling(rows, args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "machine": info,
        "command": ["python", "-m", "benchmarks", *argv],
        "quick": args.quick,
        "elapsed_s": elapsed,
        "rows": [row.to_dict() for row in rows],
        "plots": [path.name for path in plots],
    }
    text = json.dumps(report, indent=1, default=str)
    for name in (f"results-{stamp}.json", "latest.json"):
        (args.out / name).write_text(text, encoding="utf-8")
    markdown = f"{describe_machine(info)}\n\n{render_markdown(cells)}\n\n{details(rows)}\n"
    (args.out / f"results-{stamp}.md").write_text(markdown, encoding="utf-8")
    print(f"\n{len(rows)} rows in {elapsed:.0f} s; written to {args.out}/ (results-{stamp}.*)")
    return 1 if any(row.error is not None for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
