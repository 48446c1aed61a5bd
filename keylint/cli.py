"""The `keylint` command: `keylint check [PATH ...]`, `keylint rule CODE|--all`, `--version`.

Exit codes: 0 no findings, 1 findings (KL001 included), 2 usage, config or internal error.
Heavy modules (the engine and libcst, report formats) are imported only when used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keylint._version import __version__

if TYPE_CHECKING:
    from keylint.diagnostics import Diagnostic
    from keylint.report import ReportContext, SourceLines
    from keylint.runner import FileResult, RunOptions
    from keylint.settings import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
BUG_HINT = "hint: rerun with KEYLINT_DEBUG=1 for a traceback, and please report it"


class UsageError(Exception):
    pass


@dataclass
class FixTally:
    """What --fix/--diff did over the run (for the summary and the exit code)."""

    fixed: int = 0
    diff_shown: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keylint", description="Find cache and map keys whose text changes between write and delete."
    )
    parser.add_argument("--version", action="version", version=f"keylint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="check files and folders", description="Check files and folders.")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .); - reads stdin")
    check.add_argument("--select", action="append", default=None, metavar="CODES",
                       help="comma-separated codes or prefixes to enable (replaces the configured selection)")
    check.add_argument("--ignore", action="append", default=[], metavar="CODES", help="codes or prefixes to disable")
    check.add_argument("--extend-select", action="append", default=[], metavar="CODES",
                       help="codes or prefixes to enable on top of the selection")
    check.add_argument("--config", metavar="FILE", help="a pyproject.toml ([tool.keylint]) or keylint.toml")
    check.add_argument("--output-format", choices=FORMATS, default="text")
    check.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    check.add_argument("--cache-dir", metavar="DIR", help="where the result cache lives (default .keylint_cache)")
    check.add_argument("--jobs", "-j", type=_positive_int, default=None, metavar="N",
                       help="worker processes (default: all cores; 1 checks in this process)")
    check.add_argument("--force-exclude", action="store_true",
                       help="apply exclude and .gitignore to paths passed explicitly too (for pre-commit)")
    check.add_argument("--stdin-filename", metavar="PATH", help="the name of the file read from stdin")
    check.add_argument("--fix", action="store_true", help="apply safe fixes")
    check.add_argument("--unsafe-fixes", action="store_true", help="with --fix/--diff, apply unsafe fixes too")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    check.add_argument("--max-file-size", type=int, metavar="BYTES", help="larger files get KL001")
    check.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    check.add_argument("--baseline", metavar="FILE", help="fail only on findings not recorded in FILE")
    check.add_argument("--write-baseline", metavar="FILE", help="record the current findings in FILE and exit 0")
    check.add_argument("--add-noqa", action="store_true",
                       help="add `# keylint: ignore[CODE]` comments that silence every current finding")

    rule = commands.add_parser("rule", help="print a rule's documentation", description="Print rule docs.")
    rule.add_argument("code", nargs="?", metavar="CODE")
    rule.add_argument("--all", action="store_true", help="every rule")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _run_options(args: argparse.Namespace) -> RunOptions:
    from keylint.runner import RunOptions

    return RunOptions(jobs=args.jobs, use_cache=not args.no_cache, cache_dir=args.cache_dir)


def _write(text: str, output_file: str | None = None) -> None:
    if output_file:
        folder = os.path.dirname(os.path.abspath(output_file))
        os.makedirs(folder, exist_ok=True)
        with open(output_file, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
        return
    if not text:
        return
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
    else:
        sys.stdout.flush()
        buffer.write(text.encode("utf-8", "backslashreplace"))
    sys.stdout.flush()


def _write_bytes(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")


# -- keylint rule ---------------------------------------------------------------------------


def run_rule(args: argparse.Namespace) -> int:
    from keylint.report import rule_docs

    if bool(args.code) == bool(args.all):
        raise UsageError("give one rule code, or --all")
    docs = rule_docs()
    if args.all:
        chosen = list(docs.values())
    else:
        code = args.code.strip().upper()
        if code not in docs:
            raise UsageError(f"unknown rule code {args.code!r}; known codes: {', '.join(docs)}")
        chosen = [docs[code]]
    if args.output_format == "json":
        import json
        from dataclasses import asdict

        _write(json.dumps([asdict(d) for d in chosen], indent=2, ensure_ascii=False) + "\n")
    else:
        _write("\n".join(doc.markdown() for doc in chosen))
    return EXIT_CLEAN


# -- keylint check --------------------------------------------------------------------------


def _settings(args: argparse.Namespace, paths: Sequence[str]) -> Settings:
    from keylint.config import discover_settings, split_codes, with_overrides

    settings = discover_settings(paths, args.config)
    return with_overrides(
        settings,
        select=split_codes(args.select) if args.select is not None else None,
        ignore=split_codes(args.ignore),
        extend_select=split_codes(args.extend_select),
        max_file_size=args.max_file_size,
    )


def _check_stdin(args: argparse.Namespace, settings: Settings, lines: SourceLines, tally: FixTally) -> list[Diagnostic]:
    from keylint import fixes
    from keylint.discover import is_force_excluded
    from keylint.runner import check_bytes, file_error

    data = sys.stdin.buffer.read()
    path = args.stdin_filename or "-"
    if args.stdin_filename and args.force_exclude and is_force_excluded(args.stdin_filename, settings):
        if args.fix:
            _write_bytes(data)
        return []
    if len(data) > settings.max_file_size:
        if args.fix and not args.diff:
            _write_bytes(data)  # --fix on stdin always gives the text back
        return [file_error(path, f"input is {len(data)} bytes, over max-file-size ({settings.max_file_size} bytes)")]
    found = check_bytes(data, path, settings)
    decoded = fixes.decode_source(data)
    if decoded is not None:
        lines.add(path, decoded.text)
    if not (args.fix or args.diff):
        return found
    if decoded is None:  # nothing can be fixed; --fix still passes the input through unchanged
        if args.fix and not args.diff:
            _write_bytes(data)
        return found
    outcome = fixes.fix_text(
        decoded.text, found, lambda text: check_bytes(text, path, settings), unsafe=args.unsafe_fixes
    )
    if outcome.error:
        _err(f"keylint: {path}: {outcome.error}")
    tally.fixed = outcome.fixed
    if args.diff:
        tally.diff_shown = bool(outcome.fixed)
        _write(fixes.unified_diff(path, decoded.text, outcome.text))
    else:
        try:
            _write_bytes(outcome.text.encode(decoded.encoding))
        except UnicodeEncodeError:
            _err(f"keylint: {path}: not fixed: the fixed text cannot be encoded as {decoded.encoding}")
            _write_bytes(data)
            return found
    return outcome.remaining


def _check_files(
    args: argparse.Namespace, paths: list[str], settings: Settings, tally: FixTally
) -> tuple[list[str], list[Diagnostic]]:
    from keylint.runner import iter_file_results

    files: list[str] = []
    found: list[Diagnostic] = []
    if not (args.fix or args.diff):
        for result in _with_progress(iter_file_results(paths, settings, force_exclude=args.force_exclude, options=_run_options(args)), args, paths, settings):
            files.append(result.path)
            found.extend(result.diagnostics)
        return files, found

    from keylint.discover import discover
    from keylint.fixes import fix_file
    from keylint.runner import file_error

    discovery = discover(paths, settings, force_exclude=args.force_exclude)
    found.extend(file_error(p.path, p.message) for p in discovery.problems)
    diffs = []
    from keylint import progress

    for path in progress.track(discovery.files, len(discovery.files), args.output_format):
        outcome = fix_file(path, settings, unsafe=args.unsafe_fixes, write=not args.diff)
        files.append(path)
        found.extend(outcome.remaining)
        tally.fixed += outcome.fixed
        if outcome.message:
            _err(f"keylint: {path}: {outcome.message}")
        if outcome.diff:
            diffs.append(outcome.diff)
    if args.diff:
        tally.diff_shown = bool(diffs)
        _write("".join(diffs))
    found.sort(key=lambda d: d.sort_key())
    return sorted(files + [p.path for p in discovery.problems]), found


def _with_progress(results: Iterator[FileResult], args: argparse.Namespace, paths: list[str], settings: Settings) -> Iterator[FileResult]:
    """A bar on stderr for long runs at a terminal (`keylint.progress`); the total costs a second
    discovery walk, done only when a bar can be shown."""
    from keylint import progress

    if not progress.wanted(args.output_format):
        return results
    from keylint.discover import discover

    found = discover(paths, settings, force_exclude=args.force_exclude)
    return progress.track(results, len(found.files) + len(found.problems), args.output_format)


def _check_integration_args(args: argparse.Namespace, use_stdin: bool) -> None:
    if args.baseline and args.write_baseline:
        raise UsageError("--baseline and --write-baseline do not combine; --write-baseline alone refreshes it")
    for flag, given in (("--write-baseline", args.write_baseline), ("--add-noqa", args.add_noqa)):
        if given and (use_stdin or args.diff):
            raise UsageError(f"{flag} works on files; it does not combine with stdin or --diff")
    if args.add_noqa and args.fix:
        raise UsageError("--add-noqa does not combine with --fix; fix first, then silence what is left")


def _baseline_and_noqa(
    args: argparse.Namespace, found: list[Diagnostic], context: ReportContext, settings: Settings
) -> list[Diagnostic] | int:
    """--write-baseline, --baseline, --add-noqa: the findings left to report, or the exit code."""
    from keylint import baseline, noqa

    try:
        if args.write_baseline:
            count = baseline.write(args.write_baseline, found, context)
            _err(f"keylint: wrote {count} finding(s) to the baseline {args.write_baseline}")
            unreadable = sum(1 for d in found if d.code in baseline.NEVER_BASELINED)
            if unreadable:
                _err(f"keylint: {unreadable} file(s) could not be checked (KL001); those are never baselined")
            return EXIT_CLEAN
        if args.baseline:
            result = baseline.filter_new(found, context, baseline.load(args.baseline))
            if not args.quiet and (result.matched or result.stale):
                _err(f"keylint: {result.matched} finding(s) matched the baseline {args.baseline}")
            if not args.quiet and result.stale:
                _err(f"keylint: {result.stale} baseline entr(ies) no longer occur; refresh with --write-baseline")
            found = result.new
    except baseline.BaselineError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the baseline {args.write_baseline}: {exc.strerror or exc}") from None
    if not args.add_noqa:
        return found
    outcome = noqa.add_noqa(found, settings)
    for problem in outcome.problems:
        _err(f"keylint: {problem}")
    _err(f"keylint: added suppression comments for {outcome.added} finding(s) in {outcome.files} file(s)")
    return EXIT_FINDINGS if outcome.problems else EXIT_CLEAN


@contextmanager
def _sigterm_as_interrupt(enabled: bool) -> Iterator[None]:
    """While fixing, SIGTERM unwinds like Ctrl-C, so a fix in progress removes its temp file
    (the target is only ever replaced atomically: it stays old or new)."""
    import signal
    import threading

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# A lint run allocates millions of short-lived, acyclic ast/CST nodes: with the default gen-0
# threshold (700) the collector spends about a fifth of the run rescanning them. Set for the CLI's
# own process (and the workers it forks), never by the library API.
GC_THRESHOLD = (100_000, 50, 100)


def run_check(args: argparse.Namespace) -> int:
    import gc

    from keylint.report import ReportContext, SourceLines, get_renderer

    gc.set_threshold(*GC_THRESHOLD)

    paths: list[str] = args.paths or (["-"] if args.stdin_filename else ["."])
    use_stdin = "-" in paths
    if use_stdin and len(paths) > 1:
        raise UsageError("`-` (stdin) cannot be combined with other paths")
    if args.diff and args.output_file is None and args.output_format != "text":
        raise UsageError("--diff prints a diff on stdout; pick --output-file for a machine-readable report")
    _check_integration_args(args, use_stdin)
    tally = FixTally()
    settings = _settings(args, [args.stdin_filename or "."] if use_stdin else paths)
    lines = SourceLines()
    with _sigterm_as_interrupt(enabled=args.fix and not args.diff):
        if use_stdin:
            found = _check_stdin(args, settings, lines, tally)
            files = [args.stdin_filename or "-"]
        else:
            files, found = _check_files(args, paths, settings, tally)

    context = ReportContext(
        files=files, lines=lines, fixed=0 if args.diff else tally.fixed, statistics=args.statistics,
        would_fix=tally.fixed if args.diff else 0,
        quiet=args.quiet, version=__version__,
        root=settings.project_root or os.getcwd(),  # CI formats want paths from the project root
    )  # fmt: skip
    kept = _baseline_and_noqa(args, found, context, settings)
    if isinstance(kept, int):
        return kept
    found = kept
    report = get_renderer(args.output_format)(found, context)
    to_stderr = (args.diff or (use_stdin and args.fix)) and args.output_file is None
    if to_stderr:  # stdout carries the diff or the fixed source
        if report:
            sys.stderr.write(report)
    else:
        _write(report, args.output_file)
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if found or tally.diff_shown else EXIT_CLEAN


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "rule":
        return run_rule(args)
    return run_check(args)


def main(argv: Sequence[str] | None = None) -> int:
    from keylint.config import ConfigError

    try:
        return _main(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_CLEAN if exc.code is None else EXIT_ERROR)
    except (UsageError, ConfigError) as exc:
        _err(f"keylint: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("keylint: interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`keylint check | head`): stop quietly, as other CLI tools do.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FINDINGS
    except Exception as exc:
        if os.environ.get("KEYLINT_DEBUG") == "1":
            raise
        _err(f"keylint: internal error: {type(exc).__name__}: {exc}")
        _err(BUG_HINT)
        return EXIT_ERROR
