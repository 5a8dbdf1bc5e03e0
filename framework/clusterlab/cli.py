"""The ``clusterlab`` command: run, validate, plugins, report and ui.

Heavy libraries (torch, MLflow, matplotlib) are imported inside the commands that use
them, so ``clusterlab --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, NoReturn

from clusterlab import __version__, startup
from clusterlab.errors import ClusterlabError, ExperimentError
from clusterlab.quick_exit import leave

# Set before torch is first imported: spinning OpenMP workers make the many small
# operations of a clustering loop crawl whenever the cores are shared with other work.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

EXIT_TRIALS_FAILED = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterlab",
        description="Run clustering experiments written as YAML grids and track them in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"clusterlab {__version__}")
    parser.add_argument(
        "--profile-startup",
        action="store_true",
        help="print on stderr how long each start-up step took (imports, file, plugins, "
        "checks, data, store)",
    )
    _add_plugin_flags(parser, dest_prefix="global_")
    plugin_flags = argparse.ArgumentParser(add_help=False)
    _add_plugin_flags(plugin_flags)
    experiment_flags = argparse.ArgumentParser(add_help=False)
    experiment_flags.add_argument("file", help="the experiment file (YAML)")
    experiment_flags.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key, e.g. --set device=cpu --set seeds=[0,1] "
        "--set algorithms.0.params.n_init=5",
    )
    experiment_flags.add_argument(
        "--executor",
        metavar="NAME",
        help="run the trials with this executor (local, processes, ray, ...) instead of the file's",
    )
    experiment_flags.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="refuse grids larger than this (default 10000)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[experiment_flags, plugin_flags], help="run an experiment and log it"
    )
    run.add_argument("--dry-run", action="store_true", help="list the trials without running")
    run.add_argument("--force", action="store_true", help="rerun trials that already finished")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///mlflow.db)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    commands.add_parser(
        "validate",
        parents=[experiment_flags, plugin_flags],
        help="check an experiment file without running it",
    )

    plugins = commands.add_parser(
        "plugins", parents=[plugin_flags], help="list installed plugins and what they register"
    )
    plugins.add_argument(
        "name", nargs="?", help="show one registered algorithm, dataset, metric, plot, ..."
    )
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")

    report = commands.add_parser(
        "report", help="print each setting's scores over seeds (n, mean, std, 95%% CI), from MLflow"
    )
    report.add_argument("experiment", help="the experiment's name (or an experiment file)")
    report.add_argument("--tracking-uri", help="MLflow tracking URI")
    report.add_argument(
        "--by",
        "--sort",
        metavar="SCORE",
        help="only this score, best first per dataset; the score --pivot shows",
    )
    shown = report.add_mutually_exclusive_group()
    shown.add_argument(
        "--all", action="store_true", help="every setting, not the best per algorithm"
    )
    shown.add_argument(
        "--pivot", action="store_true", help="algorithms x datasets, cells 'mean ± std (n)'"
    )
    shown.add_argument(
        "--study",
        metavar="SCORE",
        help="a study of SCORE: each algorithm's chosen setting per dataset, mean ranks, "
        "the Friedman and post-hoc tests, stability across seeds",
    )
    report.add_argument(
        "--select-by",
        metavar="SCORE",
        help="with --study: choose each setting by this score's mean (default: the oracle "
        "rule, by the study's score itself; or the file's study: select)",
    )
    report.add_argument(
        "--posthoc", choices=["nemenyi", "wilcoxon_holm"], help="with --study: the post-hoc test"
    )
    report.add_argument(
        "--missing",
        choices=["drop", "worst"],
        help="with --study: a dataset where a score is missing is left out, or ranks it last",
    )
    report.add_argument(
        "--alpha",
        type=float,
        metavar="LEVEL",
        help="with --study: the post-hoc test's level (default 0.05, or the file's study: alpha)",
    )
    report.add_argument(
        "--format",
        choices=["table", "csv", "json", "markdown", "html", "latex"],
        default="table",
    )

    ui = commands.add_parser("ui", help="open the MLflow UI on an experiment's runs table")
    ui.add_argument(
        "experiment",
        nargs="?",
        help="the experiment's name or file (default: the store's latest experiment)",
    )
    ui.add_argument("--tracking-uri", help="MLflow tracking URI")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    ui.add_argument("--no-browser", action="store_true", help="print the link, open no browser")
    return parser


def _add_plugin_flags(parser: argparse.ArgumentParser, dest_prefix: str = "") -> None:
    """``--block-plugin`` and ``--no-plugins``; given before the command as well as after it
    (separate destinations, since a command's defaults would overwrite the others)."""
    parser.add_argument(
        "--block-plugin",
        "-p",
        dest=f"{dest_prefix}block_plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="do not load the plugin NAME (an entry-point name; 'no:NAME' also works)",
    )
    parser.add_argument(
        "--no-plugins",
        dest=f"{dest_prefix}no_plugins",
        action="store_true",
        help="load no entry-point plugins at all (also CLUSTERLAB_DISABLE_PLUGIN_AUTOLOAD=1)",
    )


def _merge_plugin_flags(args: argparse.Namespace) -> None:
    """Fold the plugin flags given before the command into the command's own."""
    args.block_plugin = [*args.global_block_plugin, *getattr(args, "block_plugin", [])]
    args.no_plugins = args.global_no_plugins or getattr(args, "no_plugins", False)


def _blocked(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(name.removeprefix("no:") for name in args.block_plugin)


def _run_options(args: argparse.Namespace, **extra: Any) -> Any:
    from clusterlab.checks import DEFAULT_MAX_TRIALS
    from clusterlab.runner import RunOptions

    return RunOptions(
        blocked_plugins=_blocked(args),
        autoload_plugins=False if args.no_plugins else None,
        max_trials=args.max_trials or DEFAULT_MAX_TRIALS,
        executor=args.executor,
        **extra,
    )


def _print_trials(trials: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(trials)} trials")
    for column in ("#", "dataset", "algorithm", "swept", "seed", "hash"):
        table.add_column(column)
    for trial in trials:
        swept = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in trial.swept.items())
        table.add_row(
            str(trial.index),
            trial.dataset_label or trial.dataset,
            trial.algorithm_label or trial.algorithm,
            swept,
            str(trial.seed),
            trial.hash[:8],
        )
    Console().print(table)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check an experiment file and its plugins; print the trial count."""
    with startup.step("import the runner (torch, MLflow's client, pandas)"):
        from clusterlab.runner import check_data, prepare

    loaded, plugins, trials = prepare(args.file, args.overrides, _run_options(args))
    with startup.step("build and check the datasets"):
        check_data(loaded, plugins, trials)
    print(f"{args.file}: valid — {len(trials)} trials ({loaded.experiment.name})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run an experiment (or list its trials with --dry-run)."""
    with startup.step("import the runner (torch, MLflow's client, pandas)"):
        from clusterlab.runner import execute, prepare

    options = _run_options(
        args,
        tracking_uri=args.tracking_uri,
        force=args.force,
        progress=False if args.no_progress else None,
    )
    loaded, plugins, trials = prepare(args.file, args.overrides, options)
    if args.dry_run:
        _print_trials(trials)
        return 0
    try:
        result = execute(loaded, plugins, trials, options)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the running trial and the parent run are marked KILLED; "
            "run the same command again to complete the missing trials",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finished, failed, skipped = (result.count(s) for s in ("FINISHED", "FAILED", "SKIPPED"))
    note = " (already finished; --force reruns them)" if skipped else ""
    print(
        f"{loaded.experiment.name}: {len(result.trials)} trials — {finished} finished, "
        f"{failed} failed, {skipped} skipped{note}"
    )
    for trial_result in result.trials:
        if trial_result.status == "FAILED":
            print(
                f"  FAILED {trial_result.trial.run_name}: {trial_result.error} "
                f"(run {trial_result.run_id}, traceback in its error.txt)",
                file=sys.stderr,
            )
    print(f"Runs are in {result.tracking_uri} (parent run {result.parent_run_id}).")
    print(f"Open the MLflow UI with: clusterlab ui --tracking-uri {result.tracking_uri}")
    return 0 if result.ok else EXIT_TRIALS_FAILED


def cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins, their distributions and what they register, with parameters."""
    import json

    from clusterlab.plugins import build_plugins

    plugins = build_plugins(autoload=False if args.no_plugins else None, blocked=_blocked(args))
    registry = plugins.registry
    rows = []
    for kind, entries in registry.entries.items():
        for name in sorted(entries):
            entry = entries[name]
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "plugin": entry.plugin,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    "params": {
                        p.name: (None if p.required else repr(p.default))
                        for p in entry.params.values()
                    },
                    "choices": {
                        p.name: list(map(repr, p.choices))
                        for p in entry.params.values()
                        if p.choices is not None
                    },
                    "description": entry.description,
                }
            )
    broken = [
        {"plugin": name, "distribution": dist, "error": error}
        for name, dist, error in registry.broken
    ]
    if args.name is not None:
        return _show_registration(args, rows, registry)
    if args.json:
        blocked = sorted(registry.blocked)
        print(json.dumps({"registered": rows, "broken": broken, "blocked": blocked}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="clusterlab plugins")
    for column in ("kind", "name", "plugin", "distribution", "parameters"):
        table.add_column(column, overflow="fold")
    for row in rows:
        params = ", ".join(
            name if default is None else f"{name}={default}"
            for name, default in row["params"].items()
        )
        where = f"{row['distribution']} {row['version']}".strip()
        table.add_row(row["kind"], row["name"], row["plugin"], where, params)
    console.print(table)
    for item in broken:
        console.print(
            f"[red]broken[/] plugin '{item['plugin']}' ({item['distribution']}): {item['error']}"
        )
    return 0


def _show_registration(args: argparse.Namespace, rows: list[dict[str, Any]], registry: Any) -> int:
    """``clusterlab plugins NAME``: every registration of that name, in full."""
    import json

    from clusterlab.names import suggest

    found = [row for row in rows if row["name"] == args.name]
    if not found:
        message = f"nothing is registered as '{args.name}'" + suggest(
            args.name, {row["name"] for row in rows}
        )
        why = registry.unavailable()
        raise ExperimentError(f"{message}; {why}" if why else message)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for row in found:
        print(f"{row['kind']} '{row['name']}'")
        print(f"  {row['description'] or '(no description)'}")
        where = f"{row['distribution']} {row['version']}".strip() or "registered in-process"
        print(f"  plugin: {row['plugin']} ({where})")
        if not row["params"]:
            print("  parameters: none")
        else:
            print("  parameters:")
            for name, default in row["params"].items():
                choices = row["choices"].get(name)
                allowed = f" (one of {', '.join(choices)})" if choices else ""
                shown = " (required)" if default is None else f" = {default}"
                print(f"    {name}{shown}{allowed}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the MLflow UI on the store that ``run`` uses (a tracking server is its own
    UI) and print the link to the experiment's runs table, with the swept params and the
    scores as columns; a browser opens on it unless ``--no-browser``."""
    from clusterlab.tracking.uri import ui_address

    name, uri = _ui_experiment(args)
    served = uri.startswith(("http://", "https://"))
    address = uri.rstrip("/") if served else ui_address(args.host, args.port)
    link = _runs_table_link(uri, name, address)
    print(f"MLflow UI for {uri}{'' if served else ' (Ctrl-C stops it)'}:\n  {link}", flush=True)
    if served:
        _open_browser(args, link)
        return 0
    return _serve_ui(args, uri, address, link)


def _ui_experiment(args: argparse.Namespace) -> tuple[str | None, str]:
    """The experiment ``ui`` shows (``None`` for none yet) and its store: those of the
    file or the name given, else the store's latest experiment."""
    if args.experiment:
        from clusterlab.report import experiment_and_uri

        return experiment_and_uri(args)
    from clusterlab.tracking import resolve_tracking_uri
    from clusterlab.tracking.store import latest_experiment_name

    uri = resolve_tracking_uri(args.tracking_uri)
    return latest_experiment_name(uri), uri


def _runs_table_link(uri: str, name: str | None, address: str) -> str:
    """The link to experiment ``name``'s runs table through clusterlab's saved view, or to
    the list of experiments where there is none yet."""
    from clusterlab.tracking.store import ReadOnlyStore
    from clusterlab.tracking.uri import require_existing_store, runs_table_url

    if name is None:
        require_existing_store(uri)
        print(f"no clusterlab experiment in {uri} yet: the link opens the list of experiments")
        return address
    store = ReadOnlyStore(uri, name)
    try:
        store.mark_model_training()
        key: str | None = store.save_runs_view()
    except Exception as exc:
        # The link still opens the runs table, as the browser last left it.
        print(f"could not save clusterlab's view of the runs table: {exc}", file=sys.stderr)
        key = None
    return runs_table_url(address, store.experiment_id, key)


def _serve_ui(args: argparse.Namespace, uri: str, address: str, link: str) -> int:
    """Run ``mlflow ui`` on ``uri`` until it stops or this command is interrupted; the
    browser opens on ``link`` once the server answers."""
    import subprocess

    from clusterlab.tracking.uri import default_artifact_root

    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    root = default_artifact_root(uri)
    if root:
        # Experiments made in the UI keep their artifacts beside the store, as ``run``'s do.
        command += ["--default-artifact-root", root]
    # The server's background jobs serve MLflow's GenAI pages, which clusterlab never uses.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    # Its own process group, so that its workers stop with it however this command ends
    # (Ctrl-C in a terminal reaches only this command's group).
    server = subprocess.Popen(command, env=env, process_group=0)
    try:
        if _wait_until_up(server, address):
            _open_browser(args, link)
        return server.wait()
    finally:
        _stop_server(server)


def _wait_until_up(server: Any, address: str, timeout_s: float = 120.0) -> bool:
    """Whether the server at ``address`` answers its health check within ``timeout_s``
    (``False`` once it has exited)."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _open_browser(args: argparse.Namespace, link: str) -> None:
    if not args.no_browser:
        import webbrowser

        webbrowser.open(link)


def _stop_server(server: Any) -> None:
    """Stop the server's whole process group: terminated, then killed if it lingers."""
    import contextlib
    import subprocess

    for stop, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 15.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, stop)
        try:
            server.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def cmd_report(args: argparse.Namespace) -> int:
    """Print the best trials of an experiment, or a study of them, from MLflow."""
    from clusterlab.report import report
    from clusterlab.study_report import study_report

    if args.study:
        return study_report(args)
    for option in ("select_by", "posthoc", "missing", "alpha"):
        if getattr(args, option) is not None:
            raise ExperimentError(f"--{option.replace('_', '-')} applies only with --study")
    return report(args)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``clusterlab`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    _merge_plugin_flags(args)
    if args.command is None:
        parser.print_help()
        return 0
    handlers = {
        "run": cmd_run,
        "validate": cmd_validate,
        "plugins": cmd_plugins,
        "ui": cmd_ui,
        "report": cmd_report,
    }
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        try:
            return handlers[args.command](args)
        finally:
            if args.profile_startup:
                startup.report()
    except ClusterlabError as exc:
        print(
            f"error: {exc}" if len(str(exc).splitlines()) < 2 else f"error:\n{exc}", file=sys.stderr
        )
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry() -> NoReturn:
    """The ``clusterlab`` console script: :func:`main`, then a quick exit with its code
    (see :mod:`clusterlab.quick_exit`)."""
    leave(main())


if __name__ == "__main__":
    entry()
