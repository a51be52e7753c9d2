"""The ``lossdoctor`` command: parse, call the library, render, exit with a meaningful code.

Exit codes: 0 every run is healthy, 1 symptoms were found in at least one run, 2 the input
could not be read (or the command was used wrongly). Errors are one line on stderr,
``lossdoctor: error: <message>``, never a traceback (``--debug`` shows it).

Start-up time is part of the interface (``lossdoctor diagnose big.csv`` should take well under
a second), so this module imports only the standard library at module level: the library is
imported when a command runs, rich only when a terminal report is rendered.

A new subcommand is a ``_setup_<name>(parser)`` and a ``_run_<name>(args) -> int`` plus one
entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NamedTuple

PROG = "lossdoctor"
EXIT_HEALTHY = 0
EXIT_SYMPTOMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C (128 + SIGINT)


class CommandError(Exception):
    """A user-facing failure of a command: printed as one line, exit code 2."""


class Command(NamedTuple):
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- diagnose ----------------------------------------------------------------------------------
def _setup_diagnose(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH",
                   help="a log file (CSV, JSON, JSONL, trainer_state.json, TensorBoard events, "
                        "text) or a folder of runs")
    p.add_argument("--json", action="store_true",
                   help="print the diagnosis as JSON (one object, or an array for several runs)")
    p.add_argument("-q", "--quiet", action="store_true", help="print one line per run")
    _add_output_options(p)


def _run_diagnose(args: argparse.Namespace) -> int:
    import lossdoctor

    diagnoses = lossdoctor.diagnose_all(args.path)
    if not diagnoses:
        raise lossdoctor.LogError(f"{args.path}: no training runs found")
    code = EXIT_HEALTHY if all(dx.healthy for dx in diagnoses) else EXIT_SYMPTOMS
    if args.json:
        _write(_to_json(diagnoses) + "\n")
    else:
        from .report import terminal

        console = _console(args)
        if args.quiet:
            terminal.render_quiet(diagnoses, console)
        else:
            terminal.render(diagnoses, console)
    return code


def _to_json(diagnoses) -> str:
    import json

    docs = [_json_doc(dx) for dx in diagnoses]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, allow_nan=False)


def _json_doc(dx) -> dict:
    """The taxonomy's JSON of one diagnosis; the reader's warnings on the Run are added to
    ``warnings`` when the diagnosis did not carry them over (stdout holds only JSON)."""
    d = dx.to_dict()
    run_warnings = tuple(dx.run.warnings) if dx.run is not None else ()
    if run_warnings:
        merged = list(d.get("warnings", []))
        merged += [w for w in run_warnings if w not in merged]
        d["warnings"] = merged
    return d


# -- the table of subcommands ------------------------------------------------------------------
COMMANDS: dict[str, Command] = {
    "diagnose": Command("tell what a training log's loss curve shows and why",
                        _setup_diagnose, _run_diagnose),
}


# -- shared plumbing ---------------------------------------------------------------------------
def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-color", action="store_true", help="plain text, no colours or styles")
    p.add_argument("--width", type=_positive_int, metavar="N",
                   help="render for N columns (default: the terminal's width, 80 when piped)")


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WIDTH}")
    return n


MIN_WIDTH = 40  # narrower than this the causes table cannot hold a readable evidence column


def _console(args: argparse.Namespace):
    from rich.console import Console

    plain = getattr(args, "no_color", False)
    # color_system=None writes no escape codes at all; rich already does that when stdout is
    # not a terminal and honours NO_COLOR / FORCE_COLOR.
    kw = {"color_system": None} if plain else {}
    return Console(width=getattr(args, "width", None), highlight=False, emoji=False, **kw)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class _VersionAction(argparse.Action):
    """``--version`` without importing the library (and numpy) for every other command."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version(PROG)
        except PackageNotFoundError:  # running from a source tree that is not installed
            from . import __version__ as v
        _write(f"{PROG} {v}\n")
        parser.exit(EXIT_HEALTHY)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tells you why your neural network's training loss behaves strangely, "
                    "and how to fix it.",
        epilog="exit codes: 0 healthy, 1 symptoms found, 2 unreadable input or usage error",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help[:1].upper() + cmd.help[1:] + ".")
        cmd.setup(p)
        # --debug after the subcommand too; SUPPRESS keeps it from undoing a --debug given before
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of errors")
    return parser


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _is_log_error(exc: BaseException) -> bool:
    mod = sys.modules.get("lossdoctor.core")
    return mod is not None and isinstance(exc, mod.LogError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    debug = getattr(args, "debug", False)
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, CommandError) or _is_log_error(exc):
            _error(str(exc))
        elif isinstance(exc, OSError):
            name = exc.filename or getattr(args, "path", "")
            _error(f"{name}: {exc.strerror or exc}")
        else:
            where = getattr(args, "path", None)
            prefix = f"{where}: " if where else ""
            detail = str(exc).splitlines()[0] if str(exc) else ""
            hint = "" if debug else " (rerun with --debug for the traceback)"
            _error(f"{prefix}unexpected {type(exc).__name__}"
                   f"{': ' + detail if detail else ''}{hint}")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
