"""How a `pagemill worker` process ends: together with the `pagemill run` that started it, and promptly once Celery stops."""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn

__all__ = ["exit_at_once", "exit_with_parent"]


def exit_at_once(code: object) -> NoReturn:
    """The worker has stopped: Celery has stopped its pool and the worker_shutdown handlers have closed the
    database and HTTP clients. Exit without the interpreter's exit handlers: after a cold shutdown (SIGTERM
    mid-range, past worker_soft_shutdown_timeout) multiprocessing's handler finalizes billiard's pool by putting
    a sentinel on a queue whose lock the killed pool child may still hold, and the worker never exits (seen
    here; py-spy showed the main thread in `Pool._terminate_pool` -> `SemLock.__enter__`). The one exit handler
    of ours, the metrics folder's removal, runs first."""
    import logging

    from worker.metrics import remove_multiprocess_dir

    remove_multiprocess_dir()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def exit_with_parent() -> None:
    """An embedded worker must not outlive the `pagemill run` that started it, even after a kill -9."""
    parent = os.environ.pop("PAGEMILL_EXIT_WITH_PARENT", None)
    if not parent or not parent.isdigit():
        return
    import signal
    import threading

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="pagemill-parent-watch", daemon=True).start()
