"""Replace a file through a temp file beside it, so a reader sees the old text or the new one.

The temp file's name is chosen before the file is made: an interrupt at any moment (Ctrl-C, or
SIGTERM, which `keylint check --fix` turns into one) finds a name to remove. With
`tempfile.mkstemp` an interrupt landing after the file was made but before its name was bound
left the file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def replace_file(target: str, prefix: str, fill: Callable[[int, str], None]) -> None:
    """Make a temp file named `prefix...` beside `target`, let `fill(fd, temp_path)` write it (and
    close `fd`), then rename it over `target`. On any exception the temp file is removed."""
    folder = os.path.dirname(target)
    temp = ""
    try:
        for _ in range(100):
            # The pid keeps live processes apart; the random part, runs of one process.
            temp = os.path.join(folder, f"{prefix}{os.getpid()}-{secrets.token_hex(8)}.tmp")
            try:
                fd = os.open(temp, _FLAGS, 0o600)
                break
            except FileExistsError:
                temp = ""  # another file of that name (a crashed run's): never removed here
        else:
            raise FileExistsError(f"no free temp file name in {folder}")
        fill(fd, temp)
        os.replace(temp, target)
    except BaseException:
        if temp:
            try:
                os.unlink(temp)
            except OSError:
                pass  # not made yet, or already renamed over the target
        raise
