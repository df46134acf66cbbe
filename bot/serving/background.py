"""The work a Slack request causes after its ack, on a bounded pool of threads owned by the bot."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

# How much lower than the rest of the process the pool's threads run under `serve` (Linux thread
# niceness): when the machine's cores are all busy, the HTTP front's next acknowledgement and the
# scheduler's resumes go first. Elsewhere (Socket Mode, the console, the tests) there is no front to
# make way for, and the pool runs at the process's own priority.
WORK_NICENESS = 10
# Clicks (Approve, Resume …) have threads of their own at the process's own priority: a person waits on the
# recording system's answer there, and the pool's niceness would put that behind any other process on a busy
# machine. Commands, forms and events stay on the pool.
CLICK_THREADS = 2


class BackgroundWork:
    """Listeners ack, then hand the slow part (database, upstreams, replies) to this pool.

    Bolt's lazy listeners do the same but deep-copy every request first, on the thread that owes
    Slack its ack; handing over the already-parsed payload keeps the ack path short. The queue is
    bounded so an overload is refused at once instead of answering minutes late (2,000 is a few
    seconds of work: bench/ measured 500–700 answers a second on 2 cores).
    """

    def __init__(self, *, threads: int = 8, max_pending: int = 2000, niceness: int = 0) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="slack-work", initializer=_lower_priority, initargs=(niceness,)
        )
        # Urgent work (clicks): at the process's own priority when the pool runs lower, else on the pool itself.
        self._urgent = self._pool
        if niceness > 0:
            self._urgent = ThreadPoolExecutor(max_workers=CLICK_THREADS, thread_name_prefix="slack-click")
        self._slots = threading.BoundedSemaphore(max_pending)
        # Work taken and not yet ended (queued or running), for the metrics.
        self._depth = 0
        self._depth_lock = threading.Lock()
        # Per thread: what to call when the work queued next from it ends (see `handing_over`).
        self._local = threading.local()

    def submit(
        self, work: Callable[[], None], *, finished: Callable[[], None] | None = None, urgent: bool = False
    ) -> bool:
        """Queue `work`; False (and nothing queued) when the bot is already at capacity. `finished` is called
        once `work` has ended, however it ended (not when nothing was queued). `urgent`: a click's, run on
        the click threads (CLICK_THREADS)."""
        if not self._slots.acquire(blocking=False):
            return False
        self._moved(1)
        if finished is None:
            finished = getattr(self._local, "finished", None)
            if finished is not None:
                self._local.finished = None  # taken: the first work queued is the request's

        def run() -> None:
            try:
                work()
            except Exception:
                # Listeners turn failures into replies themselves; this is the last line of defence.
                logger.exception("background work failed")
            finally:
                self._slots.release()
                self._moved(-1)
                if finished is not None:
                    _call(finished)

        try:
            (self._urgent if urgent else self._pool).submit(run)
        except RuntimeError:  # shutting down
            # Not `finished`: the request stays unfinished (in the inbox), for the next start to answer.
            self._slots.release()
            self._moved(-1)
            return False
        return True

    @property
    def depth(self) -> int:
        """How much work is taken and not yet ended (queued or running)."""
        return self._depth

    def _moved(self, by: int) -> None:
        with self._depth_lock:
            self._depth += by

    @contextlib.contextmanager
    def handing_over(self, finished: Callable[[], None]) -> Iterator[None]:
        """While inside: the first work this thread queues calls `finished` when it ends. If it queues none
        (a form refused with errors in its answer, a request at capacity), `finished` is called on leaving.
        For a listener that answers first and queues its work itself (a form's submission)."""
        self._local.finished = finished
        try:
            yield
        finally:
            left = getattr(self._local, "finished", None)
            self._local.finished = None
            if left is not None:
                _call(left)

    def run_after_ack(self, work: Callable[[], None], *, acked: bool) -> bool:
        """Run `work` now if Slack already has its ack (we are on this pool), else queue it."""
        if acked:
            work()
            return True
        return self.submit(work)

    def shutdown(self) -> None:
        """Finish what was accepted (a deploy's graceful stop), accept nothing new."""
        self._pool.shutdown(wait=True)
        self._urgent.shutdown(wait=True)


def _call(finished: Callable[[], None]) -> None:
    try:
        finished()
    except Exception:
        logger.exception("could not record the end of background work")


def _lower_priority(niceness: int) -> None:
    if niceness <= 0:
        return
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: the same priority, then
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + niceness)


BUSY_TEXT = "recording-bot is busy right now and did not take this request; please try again in a moment."
