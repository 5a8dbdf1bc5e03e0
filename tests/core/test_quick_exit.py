"""Leaving without the interpreter's teardown keeps what a normal exit guarantees: exit
handlers, buffered output, the status, and threads that are still working."""

from __future__ import annotations

import subprocess
import sys


def _run(body: str) -> subprocess.CompletedProcess[str]:
    code = "import atexit, sys, threading, time\nfrom clusterlab.quick_exit import leave\n" + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_exit_handlers_run_and_piped_output_arrives_whole():
    done = _run(
        "atexit.register(print, 'handler ran')\n"
        "sys.stdout.write('x' * 100_000)\n"  # stays in the pipe's buffer until flushed
        "leave(3)\n"
    )
    assert done.returncode == 3
    assert done.stdout == "x" * 100_000 + "handler ran\n"


def test_a_thread_still_working_is_waited_for():
    done = _run(
        "def work():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "leave(0)\n"
    )
    assert done.returncode == 0
    assert done.stdout == "thread finished\n"


def test_a_reader_that_went_away_gives_status_120():
    code = (
        "import os, sys\n"
        "from clusterlab.quick_exit import leave\n"
        "read, write = os.pipe()\n"
        "os.close(read)\n"
        "sys.stdout = os.fdopen(write, 'w')\n"
        "sys.stdout.write('lost')\n"
        "leave(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 120
