"""One writer at a time: a lock per output folder (and per repository for ``clusterstats run``).

Uses :mod:`filelock` (an OS lock, ``fcntl.flock`` on POSIX, released by the kernel when the
process dies, so a killed run never leaves a stale lock). Beside the lock file a small JSON note
says who holds it, so the second process can say whom it waits for.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .manifest import now_iso

__all__ = ["Busy", "writer_lock", "writer_locks", "LOCK_NAME"]

LOCK_NAME = ".clusterstats.lock"


class Busy(RuntimeError):
    """Another process is writing to the same folder (and ``wait`` was not asked for)."""


def _holder(info: Path) -> str:
    try:
        doc = json.loads(info.read_text(encoding="utf-8"))
        return f"pid {doc.get('pid')}, `{doc.get('command')}` since {doc.get('since')}"
    except (OSError, ValueError):
        return "another process"


@contextmanager
def writer_lock(folder: str | os.PathLike, *, wait: bool = False, command: str = "clusterstats",
                say=None) -> Iterator[Path]:
    """Hold the writer lock of ``folder`` for the block.

    When another process holds it: with ``wait`` print a message and queue behind it; otherwise
    raise :class:`Busy` naming the holder and the ``--wait`` option.
    """
    from filelock import FileLock, Timeout

    say = say or (lambda msg: print(msg, file=sys.stderr))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME))
    info = folder / f"{LOCK_NAME}.json"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder(info)
        if not wait:
            raise Busy(f"{folder} is being written by {holder}; rerun with --wait to queue "
                       "behind it") from None
        say(f"waiting for {folder}: it is being written by {holder} ...")
        lock.acquire()
    try:
        info.write_text(json.dumps({"pid": os.getpid(), "command": command, "since": now_iso()}),
                        encoding="utf-8")
        yield folder
    finally:
        info.unlink(missing_ok=True)
        lock.release()


@contextmanager
def writer_locks(folders: Sequence[str | os.PathLike], **kwargs) -> Iterator[None]:
    """Several folders' locks, always taken in the same (sorted) order so two processes cannot
    deadlock."""
    unique = sorted({Path(f).resolve() for f in folders})
    with ExitStack() as stack:
        for folder in unique:
            stack.enter_context(writer_lock(folder, **kwargs))
        yield
