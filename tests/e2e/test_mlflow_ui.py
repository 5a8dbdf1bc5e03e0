"""The MLflow UI, in a headless Chromium, shows clusterlab's runs: the child runs by name in
the runs table, a score column, and a trial's plot on its artifact page.

The store is filled in-process with the core tests' toy plugin and a tiny plot registered
here, then served by ``mlflow server`` as a subprocess and driven with Playwright against
the system's Chromium (never a browser downloaded by Playwright). Screenshots go to
``e2e-artifacts/`` under the test's temporary folder and, where ``CLUSTERLAB_E2E_SCREENSHOTS``
names a folder, are copied there too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.runner import ExperimentResult, RunOptions, run_experiment
from tests.core import toy_plugin
from tests.mlflow_server import started_mlflow_server

PLOT = "e2e_scatter"
METRIC = "toy_silhouette"
EXPERIMENT: dict[str, Any] = {
    "name": "e2e-mlflow-ui",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [{"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3]}}],
    "metrics": [METRIC],
    "plots": [PLOT],
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# MLflow's assistant side panel opens by itself on a browser's first visit and narrows the
# runs table; this marks that first visit as already done (a key unknown to other versions
# is harmless).
_NO_ASSISTANT_AUTO_OPEN = (
    "try { localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true'); }"
    " catch (e) {}"
)


def tiny_scatter(view: Any) -> Any:
    """A small scatter plot of the trial's points coloured by cluster."""
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(3, 3))
    axes.scatter(view.X[:, 0], view.X[:, 1], c=view.labels, s=8)
    axes.set_title(f"{view.algorithm} · seed {view.seed}", fontsize=8)
    return figure


PLOTS_PLUGIN = types.SimpleNamespace(
    register_plots=hookimpl(lambda register: register(PLOT, tiny_scatter))
)


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
    """Run the small experiment into ``store`` with the toy plugin and the tiny plot."""
    result = run_experiment(
        EXPERIMENT,
        options=RunOptions(
            tracking_uri=store,
            autoload_plugins=False,
            extra_plugins=(("toy", toy_plugin), ("e2e_plots", PLOTS_PLUGIN)),
            progress=False,
        ),
    )
    assert result.ok and result.count("FINISHED") == 4
    return result


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; skips (before the store is built) where there is none."""
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium binary found (looked for $CLUSTERLAB_CHROMIUM, chromium and "
            "chromium-browser on the PATH, /usr/bin/chromium); .ci/install-browser installs it"
        )
    return found


@pytest.mark.e2e
def test_mlflow_ui_shows_child_runs_a_score_column_and_the_plot(
    chromium: str, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    shots = tmp_path / "e2e-artifacts"
    shots.mkdir()
    # The store fixture made tmp_path the working directory: the runs' artifacts go to
    # tmp_path/mlruns, recorded as an absolute location that the server reads directly.
    # The server boots (slow) while the store is filled; the store's schema is already there.
    with started_mlflow_server(store, tmp_path, tmp_path / "mlflow-server.log") as server:
        result = fill_store(store)
        client = MlflowClient(tracking_uri=store)
        first = result.trials[0]
        assert result.experiment_id is not None and result.parent_run_id is not None
        assert first.run_id is not None
        artifacts = Path(client.get_run(first.run_id).info.artifact_uri.removeprefix("file://"))
        assert tmp_path in artifacts.parents
        assert (artifacts / "plots" / f"{PLOT}.png").is_file()
        server.wait_until_up(timeout_s=90)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1920, "height": 1000})
                context.add_init_script(_NO_ASSISTANT_AUTO_OPEN)
                context.set_default_timeout(UI_TIMEOUT_MS)
                page = context.new_page()
                try:
                    parent_name = client.get_run(result.parent_run_id).info.run_name
                    check_runs_table(page, server.url, result, parent_name, shots)
                    check_plot_page(page, server.url, result.experiment_id, first.run_id, shots)
                except Exception:
                    failure = shots / "mlflow_ui_failure.png"
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(failure))
                        keep_screenshot(failure)
                    raise
            finally:
                browser.close()


def check_runs_table(
    page: Any, url: str, result: ExperimentResult, parent_name: str, shots: Path
) -> None:
    """The experiment's runs table lists the parent run, every child run by name and, in a
    score column, each child's score as logged; a screenshot of it is kept."""
    names = [r.trial.run_name for r in result.trials]
    assert "toy_kmeans n_clusters=2 · toy_blobs · seed 0" in names
    page.goto(f"{url}/#/experiments/{result.experiment_id}/runs")
    page.get_by_text(parent_name, exact=True).first.wait_for()
    _close_assistant(page)
    _expand_parent(page, parent_name, names[0])
    for name in names:
        page.get_by_text(name, exact=True).first.wait_for()
    assert _show_metric_column(page, METRIC).is_visible()
    shown = _metric_cells(page, METRIC)
    for trial_result in result.trials:
        run_id = trial_result.run_id
        assert run_id in shown, f"no {METRIC} cell for child run {trial_result.trial.run_name}"
        assert float(shown[run_id]) == pytest.approx(trial_result.scores[METRIC], abs=1e-6)
    _widen_run_name_column(page, names)
    table = shots / "mlflow_runs_table.png"
    page.screenshot(path=str(table))
    keep_screenshot(table)


def check_plot_page(page: Any, url: str, experiment_id: str, run_id: str, shots: Path) -> None:
    """A child run's artifact page fetches its plot from the server as a PNG and shows it;
    a screenshot of it is kept."""
    target = f"plots/{PLOT}.png"
    with page.expect_response(
        lambda r: f"{PLOT}.png" in r.url and r.headers.get("content-type", "").startswith("image/")
    ) as fetched:
        page.goto(f"{url}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{target}")
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


def _close_assistant(page: Any) -> None:
    """Close MLflow's assistant side panel where this version opened it."""
    close = page.get_by_role("button", name="Close")
    if close.count() and close.first.is_visible():
        close.first.click()


def _expand_parent(page: Any, parent_name: str, child_name: str) -> None:
    """Show the child runs: MLflow lists them collapsed under their parent run."""
    child = page.get_by_text(child_name, exact=True).first
    if child.is_visible():
        return
    toggle = page.get_by_role("row").filter(has_text=parent_name).first.get_by_role("button")
    toggle.first.click()
    try:
        child.wait_for(timeout=10_000)
    except Exception:
        # The children were already on their way (expanded by default): the click hid them.
        toggle.first.click()
        child.wait_for()


def _show_metric_column(page: Any, metric: str) -> Any:
    """The metric's column header, chosen in the column selector where it is not shown."""
    header = page.locator(".ag-header-cell").filter(
        has_text=re.compile(rf"^\s*{re.escape(metric)}\s*$")
    )
    if header.count() and header.first.is_visible():
        return header.first
    page.get_by_role("button", name="Columns", exact=True).click()
    search = page.get_by_placeholder("Search columns")
    if search.count():
        search.fill(metric)
    page.get_by_text(metric, exact=True).last.click()
    page.keyboard.press("Escape")
    header.first.wait_for()
    return header.first


def _metric_cells(page: Any, metric: str) -> dict[str, str]:
    """Run id → the text of its cell in the metric's column (the runs table is an ag-grid
    whose rows carry the run id)."""
    column = f"metrics.`{metric}`"
    return page.evaluate(
        """(column) => Object.fromEntries(
            [...document.querySelectorAll('.ag-row[row-id]')].flatMap((row) => {
                const cell = [...row.querySelectorAll('.ag-cell')].find(
                    (c) => c.getAttribute('col-id') === column);
                return cell ? [[row.getAttribute('row-id'), cell.innerText.trim()]] : [];
            }))""",
        column,
    )


def _widen_run_name_column(page: Any, names: list[str]) -> None:
    """Drag the Run Name column wider so that the screenshot shows whole run names."""
    header = page.locator(".ag-header-cell").filter(has_text=re.compile(r"^\s*Run Name\s*$"))
    handle = header.first.locator(".ag-header-cell-resize")
    if not handle.count():
        return
    handle.hover()
    box = handle.bounding_box()
    if box is None:
        return
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    extra = 7 * max(len(name) for name in names) - 150
    page.mouse.down()
    steps = 20
    for step in range(1, steps + 1):
        page.mouse.move(x + extra * step / steps, y)
    page.mouse.up()
