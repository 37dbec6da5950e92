"""What every `gapviz` subcommand shares: exit codes, the config arguments, one-line error handling."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from gapviz.config import PRESETS, ConfigError, RunConfig, resolve_config
from gapviz.errors import GapvizError

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config / --preset / --set, shared by `train` and `submit`."""
    parser.add_argument("--config", help="TOML or JSON RunConfig file")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="named preset (default: demo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=3 (repeatable)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return resolve_config(args.config, args.preset, args.overrides)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; known errors become one line on stderr and exit code 1, never a traceback."""
    try:
        return func(args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"gapviz: config error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    except (GapvizError, FileNotFoundError) as error:
        print(f"gapviz: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gapviz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
