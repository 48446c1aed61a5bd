"""Process workers over files: chunks of files checked in a pool, results in submission order.

Files go to the workers as paths in chunks, so small files do not pay one round trip each; a worker
reads each file and, for the result cache, hashes the very bytes it checked (the parent never holds
file contents). Workers are forked where the platform allows it, so they start with keylint
already imported and import libcst only when a file passes the screen.

A worker that dies (libcst has segfaulted on pathological input) breaks the pool: the chunks that
had not finished are re-run one file per process, so only the file that kills its process is lost,
reported as KL001; the remaining chunks go to a fresh pool.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keylint.diagnostics import Diagnostic
from keylint.settings import Settings

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass(frozen=True)
class Job:
    """One file for a worker: its display path; `digest` asks for the sha256 of the bytes checked
    (for the result cache), so the parent never holds file contents."""

    path: str
    digest: bool = False


# A job's findings, and the sha256 of the bytes they were computed from (None if not asked / unread).
Outcome = tuple[tuple[Diagnostic, ...], str | None]


def check_job(job: Job, settings: Settings) -> Outcome:
    from keylint import runner  # looked up at call time (tests monkeypatch runner.check_bytes)

    data = runner.read_source(job.path, settings.max_file_size)
    if isinstance(data, Diagnostic):
        return (data,), None
    digest = None
    if job.digest:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
    return tuple(runner.check_bytes(data, job.path, settings)), digest


def _check_chunk(jobs: Sequence[Job], settings: Settings) -> list[Outcome]:
    return [check_job(job, settings) for job in jobs]


def _context() -> Any:  # a multiprocessing context (fork where available)
    import multiprocessing  # only when files are checked in parallel: keeps one-file runs light

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def chunk_size(files: int, workers: int) -> int:
    """About 8 chunks per worker (balance), at most 32 files each (stream), at least 1."""
    return max(1, min(32, files // (workers * 8) or 1))


def run_parallel(jobs: Sequence[Job], settings: Settings, workers: int) -> Iterator[Outcome]:
    """Each job's findings, in the order of `jobs`."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = chunk_size(len(jobs), workers)
    chunks = deque(list(jobs[i : i + size]) for i in range(0, len(jobs), size))
    window = workers * 3  # chunks in flight: enough to keep workers busy, few enough to stream
    while chunks:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
        in_flight: deque[tuple[list[Job], Future[list[Outcome]]]] = deque()
        broken = False
        try:
            while chunks or in_flight:
                while chunks and len(in_flight) < window and not broken:
                    chunk = chunks.popleft()
                    try:
                        in_flight.append((chunk, pool.submit(_check_chunk, chunk, settings)))
                    except BrokenProcessPool:
                        chunks.appendleft(chunk)
                        broken = True
                if not in_flight:
                    break
                chunk, future = in_flight.popleft()
                try:
                    results = future.result()
                except BrokenProcessPool:
                    broken = True
                    # This chunk and every chunk still in flight may hold the culprit: isolate them.
                    suspects = [chunk] + [c for c, _ in in_flight]
                    in_flight.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    for suspect in suspects:
                        for job in suspect:
                            yield run_isolated(job, settings)
                    break
                yield from results
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not broken:
            return


def run_isolated(job: Job, settings: Settings) -> Outcome:
    """Check one file in a process of its own; if that process dies, a KL001 says so."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_isolated_main, args=(job, settings, sender), daemon=True)
    process.start()
    sender.close()
    result: Outcome | None = None
    try:
        result = receiver.recv()
    except (EOFError, OSError):
        result = None
    finally:
        receiver.close()
        process.join()
    if result is not None and process.exitcode == 0:
        return result
    return (crash_diagnostic(job.path, process.exitcode),), None


def _isolated_main(job: Job, settings: Settings, sender: object) -> None:
    result = check_job(job, settings)
    sender.send(result)  # type: ignore[attr-defined]
    sender.close()  # type: ignore[attr-defined]


def crash_diagnostic(path: str, exitcode: int | None) -> Diagnostic:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return Diagnostic(
        code="KL001",
        message=f"keylint's worker process crashed while checking this file ({how}); not checked, please report it",
        path=path, line=1, column=1, end_line=1, end_column=1,
    )


def default_jobs() -> int:
    return os.cpu_count() or 1
