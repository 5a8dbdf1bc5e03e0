"""The measuring harness: alternated timed runs, agreement checks, and peak memory in a child.

Times: every implementation runs once on a small slice of the data (warm-up: lazy
imports, thread pools, allocator caches), then ``repeats`` rounds run them all on the
full data, alternating, the order rotating each round; a case reports the median of its
rounds. The results of the first round are compared before anything else runs, so a
case whose implementations disagree reports no time at all.

Peak memory: each implementation runs in a fresh Python process that loads the data
from a ``.npz`` file, warms up on a slice, resets the kernel's high-water mark of its
resident set (``/proc/self/clear_refs``) and fits. The figure is the growth of that
high-water mark above the resident set just before the fit: what the fit itself
allocated at its peak, data and libraries excluded. On CUDA it is the allocator's peak
above what was allocated before the fit. Run as ``python -m benchmarks._harness SPEC``,
this module is that child.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

SUBJECT = "clusterlab"
REFERENCE = "sklearn"
WARMUP_ROWS = 2_000
# Scaling points up to this many samples are timed in this process, in alternation, and
# checked like the groups' own cases; larger ones run in fresh processes (the groups'
# cases check those sizes). Points up to SHORT_FIT_N take more rounds: a fit there takes
# milliseconds, and one round's time is mostly noise.
CHECKED_SCALING_N = 10_000
SHORT_FIT_N = 5_000
SHORT_FIT_REPEATS = 15
# A case where one call takes longer than this runs one round, not ``repeats``.
LONG_CALL_S = 60.0
# A child process fits up to three times, and no more once its fits took this long.
CHILD_BUDGET_S = 20.0
ROOT = Path(__file__).resolve().parents[1]

Fit = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


class Disagreement(AssertionError):
    """An implementation's result differs from scikit-learn's.

    ``who`` names it. When it is clusterlab (or unnamed) the case reports no time; a
    peer (faiss, fastcluster) that differs is left out of the case, with a note.
    """

    def __init__(self, message: str, who: str | None = None) -> None:
        super().__init__(message)
        self.who = who
        self.first_round: dict[str, float] = {}


@dataclass
class Target:
    """A goal for one case: clusterlab's time or memory as a ratio of a peer's, or absolute.

    ``against=None`` makes ``limit`` an absolute bound in the row's unit (seconds or MB).
    """

    metric: str
    against: str | None
    limit: float
    value: float | None = None

    @property
    def met(self) -> bool | None:
        """Whether the goal is met; ``None`` when it could not be measured."""
        return None if self.value is None else self.value <= self.limit

    def describe(self) -> str:
        """The goal in words, e.g. ``time ≤ 0.2× sklearn``."""
        if self.against is None:
            unit = "ms" if self.metric == "time" else "MB"
            scale = 1000.0 if self.metric == "time" else 1.0
            return f"{self.metric} ≤ {self.limit * scale:g} {unit}"
        return f"{self.metric} ≤ {self.limit:g}× {self.against}"

    def outcome(self) -> str:
        """``met (...)``, ``not measured`` or the gap, e.g. ``MISSED 0.410×, 2.05× the goal``."""
        if self.value is None:
            return "not measured"
        shown = (
            f"{self.value * 1000:.1f} ms"
            if self.against is None and self.metric == "time"
            else f"{self.value:.3f}" + ("×" if self.against else " MB")
        )
        if self.met:
            return f"met ({shown})"
        if self.against is not None and self.limit == 1.0:
            return f"MISSED {shown}"
        return f"MISSED {shown}, {self.value / self.limit:.2f}× the goal"


@dataclass
class Row:
    """One measured case: medians per implementation, goals, and the agreement found."""

    group: str
    case: str
    params: dict[str, Any] = field(default_factory=dict)
    unit: str = "s"
    samples: dict[str, list[float]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    agreement: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def settle(self) -> Row:
        """Compute each target's value from the medians and peaks; return ``self``."""
        for target in self.targets:
            source = self.times if target.metric == "time" else self.peak_mb
            mine = source.get(SUBJECT)
            if self.error is not None or mine is None:
                target.value = None
            elif target.against is None:
                target.value = mine
            else:
                theirs = source.get(target.against)
                target.value = mine / theirs if theirs else None
        return self

    @property
    def met(self) -> bool | None:
        """All goals met (``None`` without goals or when one was not measured)."""
        if self.error is not None:
            return False
        verdicts = [t.met for t in self.targets]
        if not verdicts or None in verdicts:
            return None
        return all(verdicts)

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON-ready data."""
        data = asdict(self)
        data["targets"] = [
            {**asdict(t), "met": t.met, "goal": t.describe(), "outcome": t.outcome()}
            for t in self.targets
        ]
        data["met"] = self.met
        return data


@dataclass
class Context:
    """What every benchmark needs: size, device, repeats, folders and a logger."""

    quick: bool
    device: str
    repeats: int
    out_dir: Path
    scratch: Path
    log: Callable[[str], None] = print
    memory: bool = True


@dataclass
class Impl:
    """One implementation of a case: a module-level ``fit(data, params)`` function.

    ``on_device`` implementations get the data as tensors on the benchmark's device (for
    ``cpu`` the numpy arrays themselves, as a user would pass them).
    """

    name: str
    fit: Fit
    on_device: bool = False


def fit_path(fit: Fit) -> str:
    """``module:function`` of a module-level fit function, to import it in a child."""
    return f"{fit.__module__}:{fit.__qualname__}"


def load_fit(path: str) -> Fit:
    """Import the fit function named by :func:`fit_path`."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def on_device(data: Mapping[str, np.ndarray], device: str) -> dict[str, Any]:
    """The arrays as tensors on ``device``; on the CPU the arrays themselves."""
    if device == "cpu":
        return dict(data)
    import torch

    return {key: torch.from_numpy(np.ascontiguousarray(v)).to(device) for key, v in data.items()}


def to_numpy(value: Any) -> np.ndarray:
    """A numpy copy of an array or a tensor (on any device)."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()  # type: ignore[no-any-return]
    return np.asarray(value)


def head(data: Mapping[str, Any], rows: int) -> dict[str, Any]:
    """``data`` with ``X`` cut to its first ``rows`` rows (the warm-up slice)."""
    return {key: (value[:rows] if key == "X" else value) for key, value in data.items()}


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timer sees all of it (no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def alternate(
    calls: Mapping[str, Callable[[], Any]],
    check: Callable[[Mapping[str, Any]], str] | None,
    *,
    repeats: int = 3,
    warmups: Mapping[str, Callable[[], Any]] | None = None,
    device: str = "cpu",
) -> tuple[dict[str, list[float]], dict[str, Any], str]:
    """Time ``calls`` in alternating rounds; return samples, first-round results, agreement.

    ``check`` receives the first round's results and returns a description of how they
    agree, or raises :class:`Disagreement`. A peer that disagrees is dropped (and named
    in the agreement); if clusterlab or scikit-learn does, the error propagates and
    nothing more is timed. When a call of the first round took over ``LONG_CALL_S``,
    that round is the only one.
    """
    for warmup in (warmups or {}).values():
        warmup()
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, Any] = {}
    agreement = ""
    for round_index in range(repeats):
        if round_index == 1:
            if check is not None:
                agreement = _checked(check, results, names, samples)
            if max(max(values) for values in samples.values()) > LONG_CALL_S:
                break
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            synchronize(device)
            start = time.perf_counter()
            result = calls[name]()
            synchronize(device)
            samples[name].append(time.perf_counter() - start)
            if round_index == 0:
                results[name] = result
            del result
    if repeats == 1 and check is not None:
        agreement = _checked(check, results, names, samples)
    return samples, results, agreement


def _checked(
    check: Callable[[Mapping[str, Any]], str],
    results: dict[str, Any],
    names: list[str],
    samples: dict[str, list[float]],
) -> str:
    """Run ``check``, dropping each disagreeing peer from ``names``, ``results``, ``samples``."""
    dropped = []
    while True:
        try:
            agreement = check(results)
            break
        except Disagreement as why:
            if why.who in (None, SUBJECT, REFERENCE) or why.who not in results:
                why.first_round = {name: values[0] for name, values in samples.items()}
                raise
            dropped.append(f"{why.who} left out, its result differs: {why}")
            for store in (results, samples):
                del store[why.who]
            names.remove(why.who)
    return "; ".join([agreement, *dropped])


def measure(
    row: Row,
    ctx: Context,
    data: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    impls: list[Impl],
    check: Callable[[Mapping[str, Any]], str] | None,
    *,
    per: Callable[[str, Any], float] | None = None,
    memory: bool = False,
) -> Row:
    """Run one case: time ``impls`` in alternation, check them, optionally measure memory.

    ``per(name, result)`` divides each implementation's times (e.g. by its iteration
    count, for a time per iteration). A disagreement is recorded in ``row.error`` and
    no time is reported.
    """
    device_data = on_device(data, ctx.device) if any(i.on_device for i in impls) else {}
    inputs = {i.name: (device_data if i.on_device else data) for i in impls}
    warm_rows = min(WARMUP_ROWS, len(data["X"]))
    calls = {i.name: _bind(i.fit, inputs[i.name], params) for i in impls}
    warmups = {i.name: _bind(i.fit, head(inputs[i.name], warm_rows), params) for i in impls}
    try:
        samples, results, row.agreement = alternate(
            calls, check, repeats=ctx.repeats, warmups=warmups, device=ctx.device
        )
    except Disagreement as why:
        row.error = f"results differ: {why}"
        unchecked = ", ".join(f"{k} {v:.3g} s" for k, v in why.first_round.items())
        row.notes.append(f"not reported, unchecked first-round times: {unchecked}")
        ctx.log(f"  {row.group} {row.case}: {row.error}")
        return row.settle()
    if len(samples[SUBJECT]) < ctx.repeats:
        row.notes.append(f"one round only: a call took over {LONG_CALL_S:g} s")
    for name, values in samples.items():
        divisor = per(name, results[name]) if per is not None else 1.0
        row.samples[name] = [v / divisor for v in values]
        row.times[name] = statistics.median(row.samples[name])
    del results, device_data
    if memory and ctx.memory:
        path = save_arrays(ctx.scratch, f"{row.group}-{abs(hash(row.case))}", data)
        for impl in impls:
            got = _child_or_note(row, impl, path, params, ctx.device)
            if got is not None:
                row.peak_mb[impl.name] = got["peak_mb"]
        path.unlink(missing_ok=True)
    return row.settle()


def size_label(n: int) -> str:
    """``500``, ``2k``, ``25k``, ``1M``: a sample count as the tables show it."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def rounds_for(ctx: Context, n: int) -> Context:
    """``ctx`` with at least :data:`SHORT_FIT_REPEATS` rounds for fits of up to
    :data:`SHORT_FIT_N` samples, which take milliseconds each."""
    repeats = max(ctx.repeats, SHORT_FIT_REPEATS) if n <= SHORT_FIT_N else ctx.repeats
    return replace(ctx, repeats=repeats)


def scaling_point(
    row: Row,
    ctx: Context,
    data: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    impls: list[Impl],
    check: Callable[[Mapping[str, Any]], str],
    *,
    index: int,
    per: Callable[[str, Any], float] | None = None,
) -> Row:
    """One point of a scaling curve: checked and timed here up to
    :data:`CHECKED_SCALING_N` samples (with peak memory from children), else timed in
    fresh processes, the order of the implementations alternating from point to point."""
    n = int(row.params["n"])
    if n <= CHECKED_SCALING_N:
        return measure(row, rounds_for(ctx, n), data, params, impls, check, per=per, memory=True)
    order = impls if index % 2 == 0 else impls[::-1]
    return measure_in_children(row, ctx, data, params, order, per_iteration=per is not None)


def measure_in_children(
    row: Row,
    ctx: Context,
    data: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    impls: list[Impl],
    *,
    per_iteration: bool = False,
) -> Row:
    """Time and peak memory of each implementation, each in a fresh process (no check).

    The scaling curves use this. ``per_iteration`` divides a time by the iterations the
    fit reported (``n_iter_``). A child that fails leaves a note, not an error.
    """
    path = save_arrays(ctx.scratch, f"{row.group.replace(':', '-')}-{row.params['n']}", data)
    for impl in impls:
        got = _child_or_note(row, impl, path, params, ctx.device)
        if got is None:
            continue
        iterations = got["n_iter"] if per_iteration and got["n_iter"] else 1
        row.times[impl.name] = got["time_s"] / iterations
        row.peak_mb[impl.name] = got["peak_mb"]
    path.unlink(missing_ok=True)
    return row.settle()


def _child_or_note(
    row: Row, impl: Impl, path: Path, params: Mapping[str, Any], device: str
) -> dict[str, Any] | None:
    try:
        return peak_in_child(impl, path, params, device)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as why:
        lines = [line.strip() for line in str(why).splitlines() if line.strip()]
        row.notes.append(f"{impl.name} not measured in a child: {lines[-1] if lines else why}")
        return None


def _bind(fit: Fit, data: Mapping[str, Any], params: Mapping[str, Any]) -> Callable[[], Any]:
    return lambda: fit(data, params)


def save_arrays(folder: Path, stem: str, data: Mapping[str, np.ndarray]) -> Path:
    """Write ``data`` to ``folder/stem.npz`` (uncompressed) for a child process to load."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.npz"
    np.savez(path, **data)
    return path


def peak_in_child(
    impl: Impl,
    data_path: Path,
    params: Mapping[str, Any],
    device: str,
    *,
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Fit ``impl`` in a fresh process; return ``peak_mb``, ``time_s``, ``method``, ``n_iter``.

    ``time_s`` is the median of up to three fits after a warm-up (fewer once the fits
    took ``CHILD_BUDGET_S``); ``peak_mb`` is from the first of them.
    """
    spec = {
        "fit": fit_path(impl.fit),
        "data": str(data_path),
        "params": dict(params),
        "device": device if impl.on_device else "cpu",
        "on_device": impl.on_device,
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._harness", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child for {impl.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def child_main(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The child's work: load, warm up, fit with memory tracked, fit again for time."""
    fit = load_fit(spec["fit"])
    device = spec["device"]
    with np.load(spec["data"]) as stored:
        data: dict[str, Any] = {key: stored[key] for key in stored.files}
    if spec["on_device"]:
        data = on_device(data, device)
    params = spec["params"]
    fit(head(data, min(WARMUP_ROWS, len(data["X"]))), params)
    gc.collect()
    synchronize(device)
    if device.startswith("cuda"):
        from clusterlab.memory import PeakMemory

        with PeakMemory(device) as peak:
            start = time.perf_counter()
            result = fit(data, params)
            synchronize(device)
            first = time.perf_counter() - start
        peak_mb, method = peak.peak_mb, "cuda allocator peak above the start"
    else:
        reset = _reset_high_water_mark()
        before = _status_kib("VmRSS")
        start = time.perf_counter()
        result = fit(data, params)
        first = time.perf_counter() - start
        high = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = max(0, high - before) / 1024
        method = "VmHWM growth" if reset else "ru_maxrss growth (lower bound)"
    n_iter = getattr(result, "n_iter_", None)
    del result
    times = [first]
    while len(times) < 3 and sum(times) < CHILD_BUDGET_S:
        gc.collect()
        start = time.perf_counter()
        fit(data, params)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {
        "peak_mb": peak_mb,
        "time_s": statistics.median(times),
        "method": method,
        "n_iter": None if n_iter is None else int(n_iter),
    }


def main(argv: list[str]) -> None:
    """Child entry point: ``python -m benchmarks._harness SPEC_JSON`` prints a JSON line."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(json.dumps(child_main(json.loads(argv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])
