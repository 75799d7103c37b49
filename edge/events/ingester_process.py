"""The ingester as a process of its own: what ``tracking-edge ingest`` runs, and how
``tracking-edge serve`` starts, restarts and stops it.

The child learns its parent from ``EDGE_INGESTER_PARENT``: once its parent process is gone
(the server was killed), it stores what is left and exits, rather than hold the ingester
lock for ever. SIGTERM and SIGINT are caught from the first line of :func:`run_process`,
before the store opens, so a stop at any moment still stores the spool first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from edge.config import Settings
from edge.db.factory import store_for
from edge.db.store import StoreUnavailable
from edge.events.ingester import EventIngester

log = logging.getLogger("edge.ingester")

PARENT_ENV = "EDGE_INGESTER_PARENT"


def tune_gc() -> None:
    """Garbage collection for a process that mostly ingests.

    Each round allocates tens of thousands of short-lived objects (parsed rows, events,
    verdicts) that reference counting frees; with the default thresholds the collector runs
    every 700 allocations and walks them all the same, a fifth of the ingester's time. Rare
    collections are enough here, and what exists at start is frozen out of their way.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def yield_cpu(settings: Settings) -> None:
    """Let requests have the CPU first: the niceness ``EDGE_INGEST_NICE`` and, on Linux
    when ``EDGE_INGEST_IDLE`` is on, the ``SCHED_IDLE`` policy.

    Niceness shrinks the ingester's share but the kernel still sees its core as busy, so a
    woken server or load balancer may queue behind another task instead of preempting it;
    a core running only ``SCHED_IDLE`` work counts as idle when the kernel places a wakeup.
    """
    if settings.ingest_nice:
        try:
            os.nice(settings.ingest_nice)
        except OSError as exc:  # a negative niceness needs privileges
            log.warning("could not change niceness by %d: %s", settings.ingest_nice, exc)
    idle = getattr(os, "SCHED_IDLE", None)  # Linux only
    if settings.ingest_idle and idle is not None:
        try:
            os.sched_setscheduler(0, idle, os.sched_param(0))
        except OSError as exc:  # e.g. a seccomp profile that forbids it
            log.warning("could not take the SCHED_IDLE policy: %s", exc)


def run_process(settings: Settings, *, once: bool = False) -> None:
    """Ingest until SIGTERM/SIGINT, or until the parent named by ``EDGE_INGESTER_PARENT`` is
    gone (``once``: until the spool is empty), then store what is left and return."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    parent = os.environ.get(PARENT_ENV, "")
    tune_gc()
    yield_cpu(settings)

    def orphaned() -> bool:
        return parent.isdigit() and os.getppid() != int(parent)

    asyncio.run(_serve(settings, lambda: once or stop.is_set() or orphaned()))


async def _serve(settings: Settings, done: Callable[[], bool]) -> None:
    store = store_for(settings)
    try:
        await store.open()
    except StoreUnavailable as exc:
        # Started while the database is down: the events wait in the spool, the ingester
        # tries again (and the store opens) once it answers.
        log.warning("events wait in the spool: %s", exc)
    ingester = EventIngester.from_settings(settings, store)
    try:
        await ingester.start()  # stands by while another ingester holds the lock
        while not done():
            await asyncio.sleep(0.2)
    finally:
        await ingester.stop()  # stores what is left, if this process holds the lock
        await store.close()


class IngesterProcess:
    """Runs the ingester as a child process for ``tracking-edge serve``: started first,
    started again if it dies (after ``restart_delay``), stopped after the server.

    A child that is gone for a moment loses nothing: the workers keep appending to the spool,
    and the next ingester starts from the committed offsets.
    """

    #: Seconds before a child that died is started again.
    restart_delay = 1.0
    #: Seconds ``stop`` waits for the child to store what is left; past that it is left to
    #: finish on its own (it exits once done, its parent being gone).
    stop_timeout = 30.0

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self.command = list(command or [sys.executable, "-m", "admin.cli", "ingest"])
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        # Spawning and stopping exclude each other: a child started after stop() looked
        # would run unsupervised.
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        # A process group of its own: a Ctrl-C in the terminal reaches the server, which then
        # stops the ingester once the workers have written their last events to the spool.
        # Not a session of its own: with the kernel's autogroup scheduling each session gets
        # an equal share of the CPU, and the ingester's niceness would count for nothing.
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        return subprocess.Popen([*self.command, *extra], env=env, process_group=0)

    def start(self) -> None:
        with self._lock:
            self._proc = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="ingester-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while True:
            assert self._proc is not None
            code = self._proc.wait()
            if code == 0:
                # It was asked to stop (a service manager signals the whole group at once):
                # not a crash. stop() stores whatever the workers wrote after it.
                return
            threading.Event().wait(self.restart_delay)
            with self._lock:
                if self._stopping:
                    return
                log.error("the ingester exited with status %s; starting it again", code)
                self._proc = self._spawn()

    def stop(self) -> None:
        """Stop the child, which stores what the spool holds first; if it is not running,
        run one that does just that (``ingest --once``)."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        else:
            proc = self._spawn("--once")
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("the ingester is still storing the spool; leaving it to finish")
