"""The base of every error whose message is enough for the user, the one way an error becomes a
one-line message (CLI, app, worker), and the exit codes of every gapviz process."""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""130, as a shell reports a process stopped by Ctrl-C."""
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
"""141, as a shell reports `yes | head`: the reader went away; nothing is printed."""


class GapvizError(ValueError):
    """Bad input or state a user can fix: a config, a file, a run id, a model name."""


def describe(error: BaseException) -> str:
    """One line for the user: a GapvizError's own message, an OS error's reason and file, else type and message.

    Never a traceback; newlines in a message are folded so the line stays one line.
    """
    if isinstance(error, GapvizError):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else ""
        text = f"{error.strerror}: {where}" if where != "" else error.strerror
    elif isinstance(error, MemoryError):
        text = "out of memory"
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return " ".join(text.split()) or type(error).__name__


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is the user's to fix (bad input, missing or unreadable file), not a bug."""
    return isinstance(error, (GapvizError, OSError))
