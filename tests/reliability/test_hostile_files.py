"""Hostile experiment files, through the CLI: each fails fast with exit status 2 and a
message naming the file, line and key, without a traceback, and logs nothing.

Every child runs under an address-space limit a little above what the CLI needs for a
valid file, so that a regression (a grid or an alias bomb built in memory) fails here
with a MemoryError instead of taking the machine down.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.conftest import SMALL, clean_env

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="address-space limits are read from /proc"
)

# Room above the CLI's own address space for the work a refused file needs (parsing it,
# counting its grid): far below what building any of these grids would take.
HEADROOM = 1 << 30
# A guard against a hang only; each of these fails in well under a second of its own.
TIMEOUT_S = 60

KMEANS_AXIS = "      n_clusters: [2, 3]"
KMEANS = "  - name: kmeans\n    grid:\n" + KMEANS_AXIS


def _bomb(levels: int = 9) -> str:
    """A "billion laughs": each key lists ten aliases of the one before, 10^9 leaves."""
    lines = ["lol0: &lol0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*lol{level - 1}"] * 10)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _dbscan_eps(axis: str) -> str:
    return SMALL.replace(KMEANS, f"  - name: dbscan\n    grid:\n      eps: {axis}")


@dataclass
class Case:
    """A hostile file and what its refusal must say (regular expressions)."""

    name: str
    content: str | bytes
    expected: list[str]
    needs_folder: bool = field(default=False)
    #: Whether ``run`` is checked in the fast suite too: where memory is the point, or
    #: where a run could write (the cache folder). The others' ``run`` is marked slow:
    #: it takes the same way in as ``validate``, which the fast suite checks.
    run_fast: bool = field(default=False)


CASES = [
    Case(
        "alias expansion",
        SMALL + _bomb(),
        # The bomb is lines 12 to 20; the refusal is at the alias that crosses the budget.
        [r"small\.yaml:(1[2-9]|20):\d+: aliases expand to more than [\d,]+ YAML nodes"],
        run_fast=True,
    ),
    Case(
        "duplicate key",
        SMALL + "algorithms:\n  - name: dbscan\n",
        [r"small\.yaml:12:1: duplicate key 'algorithms' \(first written at line 7\)"],
    ),
    Case(
        "latin-1 bytes",
        SMALL.replace("name: small", "name: café").encode("latin-1"),
        # "name: caf" is nine bytes: the é is byte 9, the tenth column of line 1.
        [r"small\.yaml:1:10: the file is not UTF-8 text: byte 0xe9 at offset 9"],
    ),
    Case(
        "utf-16",
        SMALL.encode("utf-16"),
        [r"small\.yaml:1:1: the file is not UTF-8 text \(it starts with a UTF-16 byte-order"],
    ),
    Case(
        "deep nesting",
        SMALL.replace("centers: 3", "centers: " + "[" * 100_000 + "]" * 100_000),
        [r"small\.yaml:6:\d+: lists and mappings nest more than 50 levels deep"],
    ),
    Case(
        "range of a billion",
        SMALL.replace("[2, 3]", "{range: [1, 1000000000]}"),
        [
            r"small\.yaml:10: algorithms\[0\]\.grid\.n_clusters: the grid expands to "
            r"1,000,000,000 trials, over the limit of 10,000"
        ],
        run_fast=True,
    ),
    Case(
        "linspace of a billion",
        _dbscan_eps("{linspace: [0.0001, 0.1, 1000000000]}"),
        [r"small\.yaml:10: algorithms\[0\]\.grid\.eps: the grid expands to 1,000,000,000 trials"],
    ),
    Case(
        "tiny step",
        _dbscan_eps("{range: [0.0, 1.0, 1.0e-12]}"),
        # (1 - 0) / 1e-12 + 1 points, give or take the rounding of 1e-12 itself.
        [r"small\.yaml:10: algorithms\[0\]\.grid\.eps: the grid expands to 1,000,000,000,00[0-2] "],
    ),
    Case(
        "infinite end",
        SMALL.replace("[2, 3]", "{range: [1, .inf]}"),
        [r"small\.yaml:10: algorithms\[0\]\.grid\.n_clusters: range takes finite numbers, not inf"],
    ),
    Case(
        "product of axes",
        SMALL.replace(
            KMEANS_AXIS,
            "      n_clusters: {range: [1, 1000]}\n"
            "      n_init: {range: [1, 1000]}\n"
            "      max_iter: {range: [1, 1000]}",
        ),
        # Each axis is small; their product is a billion. The first of the three is named.
        [
            r"small\.yaml:10: algorithms\[0\]\.grid\.n_clusters: the grid expands to "
            r"1,000,000,000 trials, over the limit of 10,000 \(1,000 values here\)"
        ],
        run_fast=True,
    ),
    Case(
        "nan in a range",
        SMALL.replace("[2, 3]", "{range: [1, .nan]}"),
        [r"small\.yaml:10: algorithms\[0\]\.grid\.n_clusters: range takes finite numbers, not nan"],
    ),
    Case(
        "boolean for a number",
        SMALL.replace("    grid:\n" + KMEANS_AXIS, "    params: {n_clusters: true}"),
        [
            r"small\.yaml:9: algorithms\[0\]\.params\.n_clusters: invalid value: "
            r"n_clusters=True; .* a boolean \(true/false\) is not one"
        ],
    ),
    Case(
        "scikit-learn cache folder",
        SMALL.replace(
            KMEANS,
            "  - name: sklearn.AgglomerativeClustering\n    params: {n_clusters: 3, memory: cache}",
        ),
        [
            r"small\.yaml:9: algorithms\[0\]\.params\.memory: refused value: memory='cache'; "
            r"algorithm 'sklearn\.AgglomerativeClustering': .*unpickles"
        ],
        needs_folder=True,
        run_fast=True,
    ),
]


def _address_space_of_a_valid_validate(tmp_path: Path) -> int:
    """The peak address space of ``clusterlab validate`` on a valid file, in bytes."""
    (tmp_path / "small.yaml").write_text(SMALL)
    # The command's own function: the console script would leave before the probe reads.
    probe = (
        "from clusterlab.cli import main\n"
        "main(['validate', 'small.yaml'])\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmPeak')][0]\n"
        "print('PEAK', int(peak.split()[1]) * 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_child_env(),
        timeout=TIMEOUT_S * 5,
    )
    assert "valid — 2 trials" in result.stdout, result.stderr
    return int(result.stdout.split("PEAK")[-1])


@pytest.fixture(scope="module")
def memory_limit(tmp_path_factory: pytest.TempPathFactory) -> int:
    """The address-space limit for each child: a valid run's peak plus headroom."""
    return _address_space_of_a_valid_validate(tmp_path_factory.mktemp("probe")) + HEADROOM


def _child_env() -> dict[str, str]:
    # One thread per pool: thread stacks and arenas count against the address space.
    env = clean_env()
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _limited(limit: int) -> Callable[[], None]:
    """What the child runs before ``exec``: its address space capped at ``limit`` bytes."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return limit_memory


def _run_limited(*args: str, cwd: Path, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_child_env(),
        preexec_fn=_limited(limit),
        timeout=TIMEOUT_S,
    )


def _commands() -> list[object]:
    params: list[object] = []
    for case in CASES:
        params.append(pytest.param(case, "validate", id=f"{case.name}-validate"))
        marks = () if case.run_fast else (pytest.mark.slow,)
        params.append(pytest.param(case, "run", id=f"{case.name}-run", marks=marks))
    return params


@pytest.mark.parametrize(("case", "command"), _commands())
def test_hostile_file_is_refused_fast_with_its_line_and_logs_nothing(
    tmp_path: Path, memory_limit: int, case: Case, command: str
) -> None:
    path = tmp_path / "small.yaml"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    if case.needs_folder:
        (tmp_path / "cache").mkdir()

    result = _run_limited(
        "-m", "clusterlab.cli", command, "small.yaml", cwd=tmp_path, limit=memory_limit
    )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "MemoryError" not in result.stderr, result.stderr
    for pattern in case.expected:
        assert re.search(pattern, result.stderr), result.stderr
    # Nothing logged: no store was created, and the cache folder was never written to.
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["small.yaml", *(["cache"] if case.needs_folder else [])]
    )
    if case.needs_folder:
        assert not any((tmp_path / "cache").iterdir())


def test_the_memory_limit_stops_a_grid_built_in_memory(tmp_path: Path, memory_limit: int):
    """The limit is what makes the cases above safe: a child that builds a billion
    values under it fails with a MemoryError rather than filling the machine."""
    result = _run_limited("-c", "values = list(range(10**9))", cwd=tmp_path, limit=memory_limit)
    assert result.returncode != 0
    assert "MemoryError" in result.stderr
