"""Executors: how an experiment's trials are run (in this process, on workers, on a cluster).

The runner hands the pending trials to an executor and reads their results back as they
finish. ``base`` holds the interface and the job a worker rebuilds everything from,
``worker`` the function a worker runs for one trial, ``faults`` what happens when a
worker dies, ``store_retry`` the retries of a busy sqlite store, and ``local`` the
in-process executor the runner falls back on. ``processes`` and ``ray_executor`` are
registered by the built-in executors plugin like any third-party executor; the runner
knows executors only by the names plugins register.
"""
