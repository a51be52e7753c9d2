"""The ``lossdoctor`` command: parse, call the library, render, exit with a meaningful code.

Exit codes: 0 every run is healthy, 1 symptoms were found in at least one run, 2 an input
could not be read (or the command was used wrongly), 3 no symptoms but at least one run could not
be judged (too few points, stopped early in its own schedule, a red flag in its hyper-parameters).
Errors are one line on stderr,
``lossdoctor: error: <message>``, never a traceback (``--debug`` shows it); under ``--json`` /
``--jsonl`` each unreadable input is also an error object on stdout, so a script always gets a
document to read.

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
EXIT_INCONCLUSIVE = 3  # the log cannot be judged (too short, stopped early, a red flag)
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C (128 + SIGINT)
MIN_WIDTH = 40  # narrower than this the causes table cannot hold a readable evidence column
MAX_WIDTH = 1000  # wider only costs time (rich pads every line to it) and no one reads it
MAX_SEED = 2 ** 32 - 1  # what numpy's and torch's generators take
ERROR_SCHEMA = "lossdoctor.error/1"


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
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="log files (CSV, JSON, JSONL, trainer_state.json, TensorBoard events, "
                        "text, mlflow.db, a W&B run) or folders of runs; several are diagnosed in "
                        "turn (a shell glob works)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the diagnosis as JSON (one object, or an array for several runs)")
    fmt.add_argument("--jsonl", action="store_true",
                     help="print one JSON object per line, one per run, however many (JSON Lines)")
    p.add_argument("-q", "--quiet", action="store_true", help="print one line per run")
    p.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
    _add_tracker_options(p)
    _add_output_options(p)


def _run_diagnose(args: argparse.Namespace) -> int:
    import lossdoctor

    diagnoses, errors = [], []  # errors: (path, message), in the order of the paths
    items: list = []  # what the JSON holds, in order: diagnoses and error objects
    if args.mlflow:
        if args.paths:
            raise CommandError("give PATH or --mlflow URI, not both")
        diagnoses = _mlflow_diagnoses(args)
        items = list(diagnoses)
    elif args.experiment or args.run:
        raise CommandError("--experiment and --run narrow --mlflow URI")
    elif not args.paths:
        raise CommandError("give a PATH (a log file or a folder of runs) or --mlflow URI")
    for path in args.paths:
        try:
            found = lossdoctor.diagnose_all(path)
        except Exception as exc:  # one unreadable path must not cost the others
            if getattr(args, "debug", False):
                import traceback

                traceback.print_exc()
            msg = _message(exc, path, getattr(args, "debug", False))
            errors.append((path, msg))
            items.append({"schema": ERROR_SCHEMA, "source": str(path), "error": msg})
            continue
        diagnoses.extend(found)
        items.extend(found)
    for _, msg in errors:
        _error(msg)
    code = exit_code(diagnoses, errors)
    if args.html and diagnoses:
        from .report.html import write_html

        written = write_html(diagnoses, args.html)
        sys.stderr.write(f"report written to {written}\n")  # stdout may hold only JSON
    if args.json or args.jsonl:
        try:
            _write(_to_json(items, lines=args.jsonl))
        except BrokenPipeError:
            _silence_stdout()  # as below: the exit code still holds the outcome
    elif not diagnoses:
        pass  # only errors: they are on stderr, stdout stays empty
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


def exit_code(diagnoses, errors=()) -> int:
    """The command's exit code: an unreadable input outweighs everything (a script must not take
    a partial answer for a whole one), then symptoms, then a run that could not be judged, then
    healthy."""
    if errors:
        return EXIT_ERROR
    if any(dx.healthy is False for dx in diagnoses):
        return EXIT_SYMPTOMS
    if any(dx.healthy is None for dx in diagnoses):
        return EXIT_INCONCLUSIVE
    return EXIT_HEALTHY


def _to_json(items, lines: bool = False) -> str:
    """``--json``: one object, or an array for several; ``--jsonl``: one compact object per
    line, whatever the count. Error objects stand where their input would."""
    import json

    docs = [it if isinstance(it, dict) else _json_doc(it) for it in items]
    if lines:
        return "".join(json.dumps(d, allow_nan=False) + "\n" for d in docs)
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, allow_nan=False) + "\n"


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


def _add_tracker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mlflow", metavar="URI",
                   help="read the runs of an MLflow tracking URI instead of PATH "
                        "(sqlite:///mlflow.db, file:./mlruns, http://127.0.0.1:5000)")
    p.add_argument("--experiment", metavar="NAME", help="with --mlflow: only this experiment")
    p.add_argument("--run", metavar="ID", help="with --mlflow: only this run (id or name)")


def _diagnoses(args: argparse.Namespace) -> list:
    """The diagnoses of PATH or of the runs at ``--mlflow URI``."""
    import lossdoctor

    if args.mlflow:
        if args.path:
            raise CommandError("give PATH or --mlflow URI, not both")
        return _mlflow_diagnoses(args)
    if args.experiment or args.run:
        raise CommandError("--experiment and --run narrow --mlflow URI")
    if not args.path:
        raise CommandError("give a PATH (a log file or a folder of runs) or --mlflow URI")
    diagnoses = lossdoctor.diagnose_all(args.path)
    if not diagnoses:
        raise lossdoctor.LogError(f"{args.path}: no training runs found")
    return diagnoses


def _mlflow_diagnoses(args: argparse.Namespace) -> list:
    """One diagnosis per run at ``--mlflow URI`` (narrowed by ``--experiment`` / ``--run``)."""
    import lossdoctor
    from .readers.mlflow import read_uri

    args.path = args.mlflow  # error messages name it
    runs = read_uri(args.mlflow, experiment=args.experiment, run=args.run)
    diagnoses, skipped = [], []
    for run in runs:  # as diagnose_all: a run without a loss must not cost the others
        try:
            diagnoses.append(lossdoctor.diagnose(run))
        except lossdoctor.LogError as exc:
            skipped.append(str(exc))
    if not diagnoses:
        raise lossdoctor.LogError("; ".join(skipped))
    if skipped:
        import dataclasses

        diagnoses[0] = dataclasses.replace(diagnoses[0], warnings=diagnoses[0].warnings + tuple(
            f"skipped: {s}" for s in skipped))
    return diagnoses


# -- report ------------------------------------------------------------------------------------
def _setup_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", nargs="?",
                   help="a log file or a folder of runs, as for diagnose")
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="the HTML file to write (default: report.html)")
    p.add_argument("--png", metavar="DIR", help="also write the plots as PNG files into DIR")
    _add_tracker_options(p)


def _run_report(args: argparse.Namespace) -> int:
    from .report.html import write_html

    diagnoses = _diagnoses(args)
    written = write_html(diagnoses, args.output)
    size = written.stat().st_size
    _write(f"{written} ({len(diagnoses)} run{'s' if len(diagnoses) > 1 else ''}, "
           f"{size / 1024:,.0f} KB)\n")
    if args.png:
        from .report import png

        why = png.missing_requirements()
        if why:
            raise CommandError(why)
        for path in png.write_pngs(diagnoses, args.png):
            _write(f"{path}\n")
    return exit_code(diagnoses)


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
    rn.add_argument("--seed", type=_seed, default=0, metavar="N",
                    help=f"random seed, 0 to {MAX_SEED} (default: 0)")


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
    out = Path(args.out)
    _output_folder(out)  # before training: a bad --out must not cost the minutes of a run
    from .scenarios import record

    rec = record(args.name, seed=args.seed)
    for fmt in wanted:
        path = out / f"{args.name}{_SUFFIX.get(fmt, '')}"
        written = rec.write(path, fmt)
        _write(f"{written if written is not None else path}\n")
    return EXIT_HEALTHY


def _output_folder(out) -> None:
    """Make sure ``out`` is a folder we can write to, or say why not."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: exists and is not a folder (--out names the folder to write to)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"{out}: cannot create this folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise CommandError(f"{out}: cannot write into this folder (permission denied)")


# -- verify ------------------------------------------------------------------------------------
def _setup_verify(p: argparse.ArgumentParser) -> None:
    p.usage = "%(prog)s [options] -- COMMAND [ARGS...]"
    p.add_argument("script", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="the training script to rerun, unmodified (it uses lossdoctor.watch or the "
                        "Lightning / Hugging Face callbacks), e.g. -- python train.py --lr 1e-4")
    p.add_argument("--log", metavar="PATH", help="the baseline's log (the script already wrote it); "
                   "without it the command runs once first")
    p.add_argument("--steps", type=_positive, metavar="N",
                   help="steps per arm (default: just past where the baseline's symptom showed)")
    p.add_argument("--out", metavar="DIR", help="where every file goes (default: runs/verify/<time>)")
    p.add_argument("--executor", choices=("local", "dask", "ray"), default="local",
                   help="where the arms run: a local process pool (default), a dask.distributed or "
                        "a Ray cluster at --address")
    p.add_argument("--address", metavar="ADDR", help="the dask scheduler (tcp://host:8786) or Ray cluster")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="arms at once (default: the cores, or the cluster's workers)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds an arm may take before it is stopped (default: from the baseline's pace)")
    p.add_argument("--all-arms", action="store_true",
                   help="run every arm, also when the verdict is settled early")
    p.add_argument("--arms", metavar="A[,B...]", help="run only these arms (see the arms table in the docs)")
    p.add_argument("--json", action="store_true", help="print the verified diagnosis as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print one line")
    p.add_argument("--html", metavar="FILE", help="also write the HTML report, the arms' curves overlaid")
    p.add_argument("--no-live", action="store_true", help="plain progress lines instead of a live table")
    _add_output_options(p)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _run_verify(args: argparse.Namespace) -> int:
    command = list(args.script)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise CommandError("give the training command after --, e.g. lossdoctor verify -- python train.py")
    from .verify import VerifyError, verify
    from .verify.arms import BY_NAME
    from .verify.executors import ExecutorError

    only = None
    if args.arms:
        only = [a.strip() for a in args.arms.split(",") if a.strip()]
        bad = [a for a in only if a not in BY_NAME]
        if bad:
            raise CommandError(f"unknown arm {', '.join(bad)}; known: {', '.join(BY_NAME)}")
    args.path = args.log or " ".join(command)  # error messages name it
    from .report import verify as view

    console = _console(args)
    err_console = None
    if args.json or args.quiet:
        from rich.console import Console

        err_console = Console(stderr=True, highlight=False, emoji=False, color_system=None)
    progress = view.Progress(err_console or console, live=not args.no_live and not args.json and not args.quiet)
    try:
        with progress:
            dx = verify(command, log=args.log, steps=args.steps, out=args.out, executor=args.executor,
                        address=args.address, jobs=args.jobs, timeout=args.timeout,
                        all_arms=args.all_arms, arms=only, on_event=progress.event)
    except (VerifyError, ExecutorError) as exc:
        raise CommandError(str(exc)) from None
    code = exit_code([dx])
    if args.html:
        from .report.html import write_html

        written = write_html(dx, args.html, verification=view.html_arms(dx))
        sys.stderr.write(f"report written to {written}\n")
    if args.json:
        try:
            _write(_to_json([dx]) + "\n")
        except BrokenPipeError:
            _silence_stdout()
        return code
    try:
        if args.quiet:
            view.render_quiet(dx, console)
        else:
            view.render(dx, console)
    except _PipeClosed:
        pass
    return code


# -- the table of subcommands ------------------------------------------------------------------
COMMANDS: dict[str, Command] = {
    "diagnose": Command("tell what a training log's loss curve shows and why",
                        _setup_diagnose, _run_diagnose),
    "report": Command("write a self-contained HTML report with annotated plots",
                      _setup_report, _run_report),
    "demo": Command("replay Jena's case: train four runs live and answer the quiz from their logs",
                    _setup_demo, _run_demo),
    "scenarios": Command("list the built-in training scenarios, or train one and write its logs",
                         _setup_scenarios, _run_scenarios),
    "verify": Command("confirm the cause: rerun the training script one change at a time",
                      _setup_verify, _run_verify),
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
    if not MIN_WIDTH <= n <= MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"must be between {MIN_WIDTH} and {MAX_WIDTH}, not {n}")
    return n


def _seed(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= n <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SEED}, not {text}")
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
        epilog="exit codes: 0 healthy, 1 symptoms found, 2 unreadable input or usage error, "
               "3 inconclusive (too short to judge, stopped early, a red flag)",
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
        paths = getattr(args, "paths", None)
        where = getattr(args, "path", None) or (paths[0] if paths and len(paths) == 1 else None)
        _error(_message(exc, where, debug))
        return EXIT_ERROR


def _message(exc: BaseException, where=None, debug: bool = False) -> str:
    """One line for a failure: a LogError's or CommandError's own message; an OSError's file
    and reason; anything else named as unexpected, with the input it happened on."""
    if isinstance(exc, CommandError) or _is_log_error(exc):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename or where or ''}: {exc.strerror or exc}"
    prefix = f"{where}: " if where else ""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    hint = "" if debug else " (rerun with --debug for the traceback)"
    return f"{prefix}unexpected {type(exc).__name__}{': ' + detail if detail else ''}{hint}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
