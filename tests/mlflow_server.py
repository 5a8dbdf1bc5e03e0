"""An ``mlflow server`` subprocess for the end-to-end tests: started on a free loopback
port in its own process group, polled until it answers, and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@dataclass
class MlflowServer:
    """An ``mlflow server`` subprocess and the URL it answers on once up."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def wait_until_up(self, timeout_s: float = 90.0) -> None:
        """Poll ``/health`` until it answers, failing the test with the server's log where
        the server exits or stays silent for ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with code {self.process.returncode} before "
                    f"answering:\n{_log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        pytest.fail(
            f"mlflow server did not answer {self.url}/health within {timeout_s:.0f} s:\n"
            f"{_log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Terminate the server and anything it started; kill it where it lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


@contextlib.contextmanager
def started_mlflow_server(
    store_uri: str, cwd: Path, log_path: Path, extra_args: Sequence[str] = ()
) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` on ``store_uri`` from ``cwd`` (its own process group, output
    to ``log_path``) without waiting for it; it is stopped on exit, whatever happened."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        store_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *extra_args,
    ]
    # The server's background job runner (several processes) has nothing to do here.
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MlflowServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        yield server
    finally:
        server.stop()
