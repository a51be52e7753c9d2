"""The ``lossdoctor`` command: parse, call the library, render, exit with a meaningful code.

Exit codes: 0 every run is healthy, 1 symptoms were found in at least one run, 2 the input
could not be read (or the command was used wrongly). Errors are one line on stderr,
``lossdoctor: error: <message>``, never a traceback (``--debug`` shows it).

Start-up time is part of the interface (``lossdoctor diagnose big.csv`` should take well under
a second), so this module imports only the standard library at module level, and rich (~70 ms)
only when a terminal report is rendered: ``--json`` never loads it.

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
MIN_WIDTH = 40  # narrower than this the causes table cannot hold a readable evidence column


class CommandError(Exception):
    """A user-facing failure of a command: printed as one line, exit code 2."""


class _PipeClosed(Exception):
    """Whoever read our output went away (``lossdoctor diagnose x | head``)."""


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
        try:
            _write(_to_json(diagnoses) + "\n")
        except BrokenPipeError:
            _silence_stdout()  # as below: the exit code still holds the outcome
    else:
        from .report import terminal

        console = _console(args)
        try:
            if args.quiet:
                terminal.render_quiet(diagnoses, console)
            else:
                terminal.render(diagnoses, console)
        except _PipeClosed:
            pass  # the diagnosis is made: its exit code still tells a `set -o pipefail` shell
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
    p.add_argument("--width", type=_width, metavar="N",
                   help="render for N columns (default: the terminal's width, 80 when piped)")


def _width(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WIDTH}")
    return n


def _console(args: argparse.Namespace):
    from rich.console import Console

    plain = getattr(args, "no_color", False)
    # color_system=None writes no escape codes at all; rich already does that when stdout is
    # not a terminal and honours NO_COLOR / FORCE_COLOR.
    kw = {"color_system": None} if plain else {}
    console = Console(width=getattr(args, "width", None), highlight=False, emoji=False, **kw)
    # rich answers a closed pipe with SystemExit(1), which would read as "symptoms found"
    console.on_broken_pipe = _on_broken_pipe
    return console


def _on_broken_pipe() -> None:
    _silence_stdout()
    raise _PipeClosed


def _silence_stdout() -> None:
    # keep Python from failing again when it flushes stdout at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tells you why your neural network's training loss behaves strangely, "
                    "and how to fix it.",
        epilog="exit codes: 0 healthy, 1 symptoms found, 2 unreadable input or usage error",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help,
                           description=cmd.help[:1].upper() + cmd.help[1:] + ".")
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
    except (BrokenPipeError, _PipeClosed):
        # The reader of our output went away before we knew the outcome: stop quietly.
        _silence_stdout()
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
