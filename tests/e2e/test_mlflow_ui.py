"""``clusterlab ui`` in a headless Chromium: the link it prints opens the experiment's runs
table with the score and the swept parameter as columns and every child run, by its whole
name, in the first screen, without a click; a trial's plot shows on its artifact page.

The store is filled in-process with the built-in plugins (blobs, K-Means for three k, two
seeds, the silhouette, the scatter plot); then the real command runs as a subprocess on a
free port with ``--no-browser``, and Playwright drives the system's Chromium (never a
browser downloaded by Playwright) as a first-time visitor. Screenshots go to
``e2e-artifacts/`` under the test's temporary folder and, where
``CLUSTERLAB_E2E_SCREENSHOTS`` names a folder, are copied there too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from mlflow.tracking import MlflowClient

from clusterlab.runner import ExperimentResult, RunOptions, run_experiment
from tests.mlflow_server import free_port

METRIC = "silhouette"
PLOT = "scatter"
EXPERIMENT: dict[str, Any] = {
    "name": "e2e-mlflow-ui",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "blobs", "params": {"n_samples": 120, "centers": 3}}],
    "algorithms": [{"name": "kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3, 4]}}],
    "metrics": [METRIC],
    "plots": [PLOT],
}
SWEPT = "algorithm.n_clusters"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1920, "height": 1080}
UI_TIMEOUT_MS = 30_000
BOOT_TIMEOUT_S = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CLUSTERLAB_CHROMIUM``, else one on the PATH, else None."""
    configured = os.environ.get("CLUSTERLAB_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to ``$CLUSTERLAB_E2E_SCREENSHOTS`` where that names a folder."""
    target = os.environ.get("CLUSTERLAB_E2E_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def fill_store(store: str) -> ExperimentResult:
    """Run the small experiment into ``store`` with the built-in plugins."""
    result = run_experiment(EXPERIMENT, options=RunOptions(tracking_uri=store, progress=False))
    assert result.ok and result.count("FINISHED") == 6
    return result


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; skips (before the store is built) where there is none, except
    in CI, where .ci/run installs it and its absence is a failure."""
    found = find_chromium()
    if found is None:
        why = (
            "no Chromium binary found (looked for $CLUSTERLAB_CHROMIUM, chromium and "
            "chromium-browser on the PATH, /usr/bin/chromium); .ci/install-browser installs it"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return found


@contextlib.contextmanager
def clusterlab_ui(store: str, cwd: Path, log_path: Path) -> Iterator[tuple[str, Any]]:
    """Run ``clusterlab ui --no-browser`` on ``store`` and a free port; yield the link it
    prints, once its server answers, and the command's process. It is stopped on exit
    with SIGTERM, as a user's Ctrl-C would, and must take its server with it."""
    port = free_port()
    command = [sys.executable, "-m", "clusterlab.cli", "ui", "--tracking-uri", store]
    command += ["--port", str(port), "--no-browser"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    spawned: list[psutil.Process] = []
    try:
        link = _printed_link(process, log_path, port)
        _wait_until_up(process, f"http://127.0.0.1:{port}", log_path)
        spawned = psutil.Process(process.pid).children(recursive=True)
        yield link, process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 130, _tail(log_path)
        assert not _answers(f"http://127.0.0.1:{port}/health"), "the server outlived the command"
    finally:
        # Whatever failed, leave nothing running.
        if process.poll() is None:
            process.kill()
        for child in spawned:
            with contextlib.suppress(psutil.Error):
                child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _printed_link(process: Any, log_path: Path, port: int) -> str:
    """The runs-table link ``clusterlab ui`` prints before it starts the server."""
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/#/experiments/\S+")
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        found = pattern.search(log_path.read_text(errors="replace"))
        if found:
            return found.group(0)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"clusterlab ui printed no runs-table link:\n{_tail(log_path)}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_up(process: Any, address: str, log_path: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if _answers(f"{address}/health"):
            return
        time.sleep(0.5)
    pytest.fail(f"the UI server of clusterlab ui did not answer:\n{_tail(log_path)}")


@pytest.mark.e2e
def test_clusterlab_ui_opens_the_runs_table_with_the_score_and_every_child_run(
    chromium: str, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    shots = tmp_path / "e2e-artifacts"
    shots.mkdir()
    # The store fixture made tmp_path the working directory and holds the store there: the
    # runs' artifacts go beside it, to tmp_path/mlruns.
    result = fill_store(store)
    client = MlflowClient(tracking_uri=store)
    first = result.trials[0]
    assert result.experiment_id is not None and first.run_id is not None
    artifacts = Path(client.get_run(first.run_id).info.artifact_uri.removeprefix("file://"))
    assert (tmp_path / "mlruns") in artifacts.parents
    assert (artifacts / "plots" / f"{PLOT}.png").is_file()
    with (
        clusterlab_ui(store, tmp_path, tmp_path / "clusterlab-ui.log") as (link, _),
        sync_playwright() as playwright,
    ):
        assert f"/#/experiments/{result.experiment_id}/runs?" in link
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.new_page()
            try:
                check_first_screen(page, link, result, shots)
                address = link.split("/#/", 1)[0]
                check_plot_page(page, address, result.experiment_id, first.run_id, shots)
            except Exception:
                failure = shots / "mlflow_ui_failure.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(failure))
                    keep_screenshot(failure)
                raise
        finally:
            browser.close()


def check_first_screen(page: Any, link: str, result: ExperimentResult, shots: Path) -> None:
    """With no click: the silhouette and n_clusters column headers and every child run,
    its whole name shown, lie in the first screen, and each child's silhouette cell reads
    the score it logged; a screenshot of it is kept."""
    names = [r.trial.run_name for r in result.trials]
    assert "n_clusters=2 · kmeans · blobs · s0" in names
    page.goto(link)
    score = _header(page, METRIC)
    score.wait_for()
    swept = _header(page, SWEPT)
    for name in names:
        page.get_by_text(name, exact=True).first.wait_for()
    # Let the grid settle its column widths before measuring.
    page.wait_for_timeout(1000)
    table = shots / "mlflow_runs_table.png"
    page.screenshot(path=str(table))
    keep_screenshot(table)
    assert "/runs" in page.url and "workflowType=machine_learning" in page.url
    assert _in_first_screen(page, score), f"the {METRIC} column is not in the first screen"
    assert _in_first_screen(page, swept), f"the {SWEPT} column is not in the first screen"
    for name in names:
        cell = page.get_by_text(name, exact=True).first
        assert _in_first_screen(page, cell), f"child run {name!r} is not in the first screen"
        assert not _cut(cell), f"child run {name!r} is cut short in its column"
    shown = _metric_cells(page, METRIC)
    for trial_result in result.trials:
        run_id = trial_result.run_id
        assert run_id in shown, f"no {METRIC} cell for child run {trial_result.trial.run_name}"
        assert float(shown[run_id]) == pytest.approx(trial_result.scores[METRIC], abs=1e-6)


def check_plot_page(page: Any, address: str, experiment_id: str, run_id: str, shots: Path) -> None:
    """A child run's artifact page fetches its plot from the server as a PNG and shows it;
    a screenshot of it is kept."""
    target = f"plots/{PLOT}.png"
    with page.expect_response(
        lambda r: f"{PLOT}.png" in r.url and r.headers.get("content-type", "").startswith("image/")
    ) as fetched:
        page.goto(f"{address}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{target}")
    response = fetched.value
    assert response.status == 200
    # Chromium does not always keep the body of a streamed response: fetch it again.
    with urllib.request.urlopen(response.url, timeout=10) as again:
        body = again.read()
    assert body.startswith(PNG_SIGNATURE)
    width = int.from_bytes(body[16:20], "big")  # from the PNG's IHDR chunk
    page.get_by_text(target, exact=True).first.wait_for()
    page.wait_for_function(
        "(width) => [...document.images].some((img) => img.complete && img.naturalWidth === width)",
        arg=width,
    )
    plot = shots / "mlflow_run_plot.png"
    page.screenshot(path=str(plot))
    keep_screenshot(plot)


def _header(page: Any, column: str) -> Any:
    """The header cell of the runs table's column named ``column``."""
    return (
        page.locator(".ag-header-cell")
        .filter(has_text=re.compile(rf"^\s*{re.escape(column)}\s*$"))
        .first
    )


def _in_first_screen(page: Any, locator: Any) -> bool:
    """Whether the element is shown and lies wholly inside the viewport, unscrolled."""
    box = locator.bounding_box() if locator.is_visible() else None
    if box is None or page.evaluate("[window.scrollX, window.scrollY]") != [0, 0]:
        return False
    size = page.viewport_size
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


def _cut(locator: Any) -> bool:
    """Whether the text overflows its table cell (the grid then ends it with an ellipsis)."""
    return locator.evaluate(
        """(element) => {
            const cell = element.closest('.ag-cell') || element;
            const text = element.getBoundingClientRect();
            const room = cell.getBoundingClientRect();
            return element.scrollWidth > element.clientWidth + 1 || text.right > room.right + 1;
        }"""
    )


def _metric_cells(page: Any, metric: str) -> dict[str, str]:
    """Run id → the text of its cell in the metric's column. The runs table is an ag-grid
    whose rows carry an id that ends with the run's id (after the group's, where grouped)."""
    column = f"metrics.`{metric}`"
    return page.evaluate(
        """(column) => Object.fromEntries(
            [...document.querySelectorAll('.ag-row[row-id]')].flatMap((row) => {
                const cell = [...row.querySelectorAll('.ag-cell')].find(
                    (c) => c.getAttribute('col-id') === column);
                const id = row.getAttribute('row-id').split('.').pop();
                return cell ? [[id, cell.innerText.trim()]] : [];
            }))""",
        column,
    )
