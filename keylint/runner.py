"""Many files: discovery, reading, the engine per file, results in a stable order.

The unit of work is a `FileTask` (picklable) run by `check_file`, so process workers and a result
cache can be added inside `_execute` without changing `check_paths` or `iter_file_results`.
A file that cannot be read becomes a KL001 finding and the run goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from keylint.diagnostics import Diagnostic
from keylint.discover import discover
from keylint.settings import Settings

READ_ERROR_CODE = "KL001"


@dataclass(frozen=True)
class FileTask:
    """One file to check. `path` is the display path, as it appears in every finding."""

    path: str
    settings: Settings


@dataclass(frozen=True)
class FileResult:
    path: str
    diagnostics: tuple[Diagnostic, ...]


def file_error(path: str, message: str) -> Diagnostic:
    """A KL001 finding for a file keylint could not look at."""
    return Diagnostic(code=READ_ERROR_CODE, message=message, path=path, line=1, column=1, end_line=1, end_column=1)


def read_source(path: str, max_size: int) -> bytes | Diagnostic:
    """The file's bytes, or a KL001 finding saying why they cannot be checked.

    Opened non-blocking and checked with fstat, so a FIFO or device is reported, never waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        return file_error(path, f"cannot read file: {exc.strerror or exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return file_error(path, "not a regular file (a FIFO, socket or device); skipped")
        if info.st_size > max_size:
            return file_error(
                path, f"file is {info.st_size} bytes, over max-file-size ({max_size} bytes); not checked"
            )
        chunks = []
        remaining = max_size + 1  # read one byte past the limit to notice growth during the read
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_size:
            return file_error(path, f"file grew over max-file-size ({max_size} bytes) while read; not checked")
        return data
    except OSError as exc:
        return file_error(path, f"cannot read file: {exc.strerror or exc}")
    finally:
        os.close(fd)


def check_bytes(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
    """The engine on one file's contents; an engine crash costs only this file (KL001)."""
    from keylint import engine  # imported on first use: libcst only when a file is checked

    try:
        return engine.check_source(source, path, settings)
    except Exception as exc:
        if os.environ.get("KEYLINT_DEBUG") == "1":
            raise
        return [file_error(path, f"internal error while checking this file ({type(exc).__name__}: {exc}); please report it")]


def check_file(task: FileTask) -> list[Diagnostic]:
    """Read and check one file. Pure function of the task and the file's bytes (cacheable)."""
    data = read_source(task.path, task.settings.max_file_size)
    if isinstance(data, Diagnostic):
        return [data]
    return check_bytes(data, task.path, task.settings)


@dataclass(frozen=True)
class RunOptions:
    """How to run many files: `jobs` worker processes (1 = in this process, None = all cores),
    and the result cache (`use_cache`, `cache_dir`; default `.keylint_cache` in the project root)."""

    jobs: int | None = None
    use_cache: bool = True
    cache_dir: str | None = None


def _execute(tasks: list[FileTask], options: RunOptions | None = None) -> Iterator[FileResult]:
    """Results in the order of `tasks`: cache hits from the parent, misses checked by workers.
    Without `options` (the library default): in this process, no cache."""
    options = options or RunOptions(jobs=1, use_cache=False)
    if not tasks:
        return
    settings = tasks[0].settings
    cache = None
    if options.use_cache:
        from keylint.cache import ResultCache

        cache = ResultCache.for_settings(settings, options.cache_dir)
    from keylint.workers import Job, Outcome, check_job, default_jobs, run_parallel

    # Look every file up in the cache here (read and hashed once); the misses are read again and
    # checked by the workers, who report the hash of the bytes they checked (the file may change).
    done: list[tuple[Diagnostic, ...] | None] = []
    misses: list[Job] = []
    for task in tasks:
        if cache is not None:
            from keylint.cache import content_hash

            data = read_source(task.path, task.settings.max_file_size)
            if isinstance(data, Diagnostic):
                done.append((data,))
                continue
            hit = cache.get(task.path, content_hash(data))
            if hit is not None:
                done.append(hit)
                continue
        done.append(None)
        misses.append(Job(task.path, digest=cache is not None))
    jobs = options.jobs or default_jobs()
    workers = min(jobs, len(misses))
    if workers <= 1:
        checked: Iterator[Outcome] = (check_job(job, settings) for job in misses)
    else:
        checked = run_parallel(misses, settings, workers)
    for task, result in zip(tasks, done):
        if result is None:
            result, digest = next(checked)
            if cache is not None and digest is not None:
                cache.put(task.path, digest, result)
        yield FileResult(task.path, result)
    if cache is not None:
        cache.prune_if_due()


def iter_file_results(
    paths: Iterable[str], settings: Settings, *, force_exclude: bool = False, options: RunOptions | None = None
) -> Iterator[FileResult]:
    """Per-file results in sorted path order; paths that could not be looked at come as KL001."""
    found = discover(paths, settings, force_exclude=force_exclude)
    tasks = [FileTask(path, settings) for path in found.files]
    problems = {p.path: p for p in found.problems}
    results = _execute(tasks, options)
    # Merge the discovery problems into the sorted stream of file results.
    pending = sorted(problems.values(), key=lambda p: p.path)
    for result in results:
        while pending and pending[0].path < result.path:
            problem = pending.pop(0)
            yield FileResult(problem.path, (file_error(problem.path, problem.message),))
        yield result
    for problem in pending:
        yield FileResult(problem.path, (file_error(problem.path, problem.message),))


def check_paths(
    paths: Iterable[str], settings: Settings, *, force_exclude: bool = False, options: RunOptions | None = None
) -> Iterator[Diagnostic]:
    for result in iter_file_results(paths, settings, force_exclude=force_exclude, options=options):
        yield from result.diagnostics
