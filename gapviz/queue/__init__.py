"""The job queue: Redis connection, submission, jobs, live events, workers, the embedded server and `gapviz up`."""

DEFAULT_QUEUE = "gapviz"
"""The queue runs go to when none is named (workers listen on it by default)."""
APP_HOST = "127.0.0.1"
DEFAULT_APP_PORT = 8501
"""Where `gapviz up` serves the app unless --port says otherwise."""
