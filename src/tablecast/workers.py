"""``--workers N``: N server processes on one port, for a machine with more than one core.

Each worker is a whole node of the cluster (its own event loop, rooms and connections to the
shared PostgreSQL store) with its own listening socket on the same port (SO_REUSEPORT), so the
kernel spreads new connections evenly over the workers rather than waking them all for each.
This process only starts them, passes signals on, and starts again a worker that dies; its
viewers reconnect and land on the others meanwhile. A worker that dies as it starts (the store
cannot be reached, say) stops them all, with status 1: restarting it in a loop would only hide
why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import time

from .config import LOG_FORMAT, Settings

log = logging.getLogger("tablecast")

RESTART_PAUSE = 1.0  # seconds before starting again a worker that died
CANNOT_START = 3  # a worker's exit status when it could not start at all


def run(settings: Settings) -> int:
    """Run the workers until SIGTERM or SIGINT; the exit status."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("tablecast: --workers needs SO_REUSEPORT, which this system lacks")
    # With --port 0 the workers must agree on one port: hold it (bound, never listening, so
    # the kernel gives it no connections) while they run.
    holder = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((settings.host, settings.port))
    port = holder.getsockname()[1]
    stopping = False
    workers: dict[int, int] = {}  # pid -> worker number

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            _signal(pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(1, settings.workers + 1):
        workers[_start(settings, port, number)] = number
    log.info("tablecast: %d workers on port %d, supervisor pid=%d", len(workers), port, os.getpid())
    status = 0
    while workers:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        number = workers.pop(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            status = status or (code if code > 0 else 0)
            continue
        if code == CANNOT_START:
            # the store unreachable, a bad setting: starting it again and again would only
            # hide that; stop, and let systemd or the operator decide
            log.error("worker %d could not start; stopping the others", number)
            stop(signal.SIGTERM, None)
            status = 1
            continue
        log.error("worker %d (pid %d) exited with %d; starting it again", number, pid, code)
        time.sleep(RESTART_PAUSE)
        if not stopping:
            workers[_start(settings, port, number)] = number
    holder.close()
    return status


def _start(settings: Settings, port: int, number: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    # the worker: default signal handling back (serve() sets its own), then a node
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    worker_format = LOG_FORMAT.replace("%(message)s", f"[worker {number}] %(message)s")
    for handler in logging.root.handlers:  # each line says which worker wrote it
        handler.setFormatter(logging.Formatter(worker_format))
    code = 0
    try:
        from .web.server import bind, run, serve

        sockets = bind(dataclasses.replace(settings, port=port), reuse_port=True)
        run(settings, serve(settings, sockets, worker=number))
    except SystemExit as exc:  # serve() said why it could not start (the store, say)
        log.error("worker %d could not start: %s", number, exc)
        code = CANNOT_START
    except BaseException:
        log.exception("worker %d failed", number)
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
