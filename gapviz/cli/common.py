"""What every `gapviz` subcommand shares: the config arguments and one-line error handling.

Exit codes and the wording of errors come from gapviz.errors (the CLI, the app and the worker share them).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Callable

from gapviz.config import PRESETS, ConfigError, RunConfig, resolve_config
from gapviz.errors import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, describe, is_user_error
from gapviz.fsio import private_umask

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "add_config_arguments",
    "run_command",
    "term_safe",
]
DEBUG_ENV = "GAPVIZ_DEBUG"
"""Set to 1 to see the traceback of an unexpected error instead of its one-line summary."""

SHOWN_CHARS = 200
"""Longest value from a run, file or config that the CLI prints; the rest becomes ``…(+N chars)``."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def term_safe(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` made harmless for a terminal: control characters as visible ``\\xNN`` escapes, then truncated.

    C0 (newline, carriage return, ESC of ANSI/OSC sequences, BEL...), DEL, C1 and the Unicode line
    separators cannot retitle the terminal, move the cursor or forge a row once shown this way.
    """
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else "?", str(value))
    return text if len(text) <= limit else f"{text[:limit]}…(+{len(text) - limit} chars)"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config / --preset / --set, shared by `train` and `submit`."""
    parser.add_argument("--config", help="TOML or JSON RunConfig file")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="named preset (default: demo)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.epochs=3 (repeatable; a tab separator: \\t)",
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return resolve_config(args.config, args.preset, args.overrides)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; errors become one line on stderr and exit code 1, never a traceback.

    A closed stdout (``gapviz runs list | head``) ends the command quietly, as Unix tools do.
    """
    private_umask()
    try:
        code = func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except ConfigError as error:
        for problem in error.problems:
            print(f"gapviz: config error: {term_safe(problem, 2 * SHOWN_CHARS)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gapviz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not is_user_error(error) and os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        kind = "error" if is_user_error(error) else f"unexpected error (set {DEBUG_ENV}=1 for the traceback)"
        print(f"gapviz: {kind}: {term_safe(describe(error), 4 * SHOWN_CHARS)}", file=sys.stderr)
        return EXIT_ERROR


def _quiet_broken_pipe() -> int:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again; exit 141 like `yes | head`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE
