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


# -- demo --------------------------------------------------------------------------------------
def _setup_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="where to write the four runs' logs (default: runs/demo)")
    p.add_argument("--no-live", action="store_true",
                   help="print plain progress lines instead of a live display")
    _add_output_options(p)


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .report import demo

    why = demo.missing_requirements()
    if why:
        raise CommandError(why)
    console = _console(args)
    live = not args.no_live and console.is_terminal
    try:
        demo.run_demo(Path(args.out), console, live=live)
    except _PipeClosed:
        pass  # the logs are written; nobody is reading the report
    return EXIT_HEALTHY


# -- scenarios ---------------------------------------------------------------------------------
SCENARIO_FORMATS_DEFAULT = "jsonl,csv"
# what follows the scenario's name in each written path (lightning and tensorboard are folders)
_SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "keras_csv": ".keras.csv", "lightning": "_lightning",
           "tensorboard": "_tensorboard", "text": ".log", "trainer_state": ".trainer_state.json"}


def _setup_scenarios(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the scenarios: name, true cause, symptom, story",
                        description="List the scenarios: name, true cause, symptom, story.")
    _add_output_options(ls)
    rn = sub.add_parser("run", help="train one scenario and write its logs",
                        description="Train one scenario and write its logs.")
    rn.add_argument("name", metavar="NAME", help="the scenario (see `lossdoctor scenarios list`)")
    rn.add_argument("--out", required=True, metavar="DIR", help="the folder to write the logs to")
    rn.add_argument("--format", default=SCENARIO_FORMATS_DEFAULT, metavar="FMT[,FMT...]",
                    help="formats to write, comma-separated, or 'all' "
                         f"(default: {SCENARIO_FORMATS_DEFAULT})")
    rn.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")


def _run_scenarios(args: argparse.Namespace) -> int:
    return _scenarios_list(args) if args.action == "list" else _scenarios_run(args)


def _scenarios_list(args: argparse.Namespace) -> int:
    from rich.text import Text

    from .scenarios import SCENARIOS

    rows = [(sc.name, sc.cause or "(healthy)", sc.symptom or "(none)",
             sc.story.splitlines()[0] if sc.story else "") for sc in SCENARIOS.values()]
    # the ids in aligned columns, each story's first line under them: a story column beside
    # 70 characters of ids would leave it a sliver at 100 columns
    w = [max(len(r[i]) for r in rows + [("name", "true cause", "symptom", "")]) for i in range(3)]
    console = _console(args)
    try:
        console.print(Text(f"{'name':<{w[0]}}  {'true cause':<{w[1]}}  symptom", style="bold"),
                      no_wrap=True, overflow="ellipsis")
        for name, cause, symptom, story in rows:
            console.print(f"{name:<{w[0]}}  {cause:<{w[1]}}  {symptom}", markup=False,
                          no_wrap=True, overflow="ellipsis")
            if story:
                console.print(Text("    " + story, style="dim"), no_wrap=True, overflow="ellipsis")
    except _PipeClosed:
        pass
    return EXIT_HEALTHY


def _scenarios_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .scenarios import FORMATS, SCENARIOS

    if args.name not in SCENARIOS:
        raise CommandError(f"unknown scenario {args.name!r}; known: {', '.join(SCENARIOS)}")
    wanted = [f.strip() for f in args.format.split(",") if f.strip()]
    if wanted == ["all"]:
        wanted = list(FORMATS)
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise CommandError(f"unknown format {', '.join(bad) or repr(args.format)}; "
                           f"one or more of {', '.join(FORMATS)}, or all")
    from .report.demo import missing_requirements

    why = missing_requirements()
    if why:
        raise CommandError(why)
    from .scenarios import record

    rec = record(args.name, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for fmt in wanted:
        path = out / f"{args.name}{_SUFFIX.get(fmt, '')}"
        written = rec.write(path, fmt)
        _write(f"{written if written is not None else path}\n")
    return EXIT_HEALTHY


# -- the table of subcommands ------------------------------------------------------------------
COMMANDS: dict[str, Command] = {
    "diagnose": Command("tell what a training log's loss curve shows and why",
                        _setup_diagnose, _run_diagnose),
    "demo": Command("replay Jena's case: train four runs live and answer the quiz from their logs",
                    _setup_demo, _run_demo),
    "scenarios": Command("list the built-in training scenarios, or train one and write its logs",
                         _setup_scenarios, _run_scenarios),
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
    from .report.safe import printable  # names from a log may hold escape sequences

    sys.stderr.write(f"{PROG}: error: {printable(message)}\n")
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
