"""Built-in executors: in this process, on worker processes, and on Ray."""
