"""The rotation engine: every platform, every device, one lifecycle, in parallel.

Workers run one device each (rotation/lifecycle.py); the accounts of one device (admin and
its `enable` secret, say) run one after the other in the same worker, in the order given,
so two sessions never change one device's credentials at once. Every StepEvent they emit is handed
to the caller's sink on the *calling* thread, and the worker waits until the sink has
returned: the audit log and the SQLite store are written in lifecycle order and are
durable before the next step touches the device (a SIGKILL after "escrow ok" leaves
that event on disk). One device's failure is a result, never an exception for the run.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from agent.core.logsetup import get_logger
from agent.core.scope import ScopeGuard
from agent.core.secret import scrub
from rotation.contract import Target
from rotation.hostkeys import HostKeyPins
from rotation.lifecycle import DeviceLifecycle, Settings, crash_point
from rotation.results import RotationResult, StepEvent, VerifyResult

log = get_logger("rotation")

EventSink = Callable[[StepEvent], None]


class RotationEngine:
    """Rotate or verify a list of targets with ``parallel`` devices at a time."""

    def __init__(
        self,
        secret_store: Any,
        pins: HostKeyPins,
        scope: ScopeGuard,
        *,
        on_event: EventSink,
        parallel: int = 8,
        timeout: float = 60.0,
        password_length: int | None = None,
        check_old_refused: bool = True,
        batch: Callable[[], AbstractContextManager] | None = None,
        crash: Callable[[str], None] = crash_point,
    ) -> None:
        self.parallel = max(1, parallel)
        # ``parallel`` devices at once (the slots); twice as many workers, so a device's
        # keyring writes (escrow before, promote after) overlap other devices' sessions.
        self._slots = threading.BoundedSemaphore(self.parallel)
        self.on_event = on_event
        self.batch = batch or contextlib.nullcontext
        self.settings = Settings(
            secrets=secret_store,
            pins=pins,
            scope=scope,
            emit=self._emit_from_worker,
            timeout=timeout,
            password_length=password_length,
            check_old_refused=check_old_refused,
            crash=crash,
            slot=self._slot,
        )
        self._events: queue.Queue[_Delivery | None] = queue.Queue()  # None: a device is done
        self._main = threading.get_ident()

    def rotate(
        self,
        targets: Iterable[Target],
        *,
        dry_run: bool = False,
        progress: Callable[[RotationResult], None] | None = None,
    ) -> list[RotationResult]:
        unique, duplicates = _dedupe(targets)
        results = self._run(unique, lambda lc: lc.rotate(dry_run), progress)
        for target in duplicates:
            results.append(
                RotationResult(
                    target.host,
                    target.platform,
                    target.username,
                    status="skipped",
                    error="listed more than once",
                )
            )
        return results

    def verify(
        self,
        targets: Iterable[Target],
        *,
        progress: Callable[[VerifyResult], None] | None = None,
    ) -> list[VerifyResult]:
        unique, _ = _dedupe(targets)
        return self._run(unique, lambda lc: lc.verify(), progress)

    # -- the worker pool and the event funnel ----------------------------------------------
    def _run(self, targets: list[Target], job: Callable, progress: Callable | None) -> list:
        # One keyring index write for the run instead of two per device.
        with self.settings.secrets.deferred_index():
            return self._run_pool(targets, job, progress)

    def _run_pool(self, targets: list[Target], job: Callable, progress: Callable | None) -> list:
        self._main = threading.get_ident()
        results: list[Any] = [None] * len(targets)
        with ThreadPoolExecutor(2 * self.parallel, thread_name_prefix="rotate") as pool:
            futures: dict[Future, list[int]] = {
                pool.submit(self._device, job, [targets[i] for i in group]): group
                for group in _by_device(targets)
            }
            for future in futures:
                # Wake the loop below when a device finishes (not up to 50 ms later).
                future.add_done_callback(lambda _: self._events.put(None))
            pending = set(futures)
            interrupted: BaseException | None = None
            while pending:
                try:
                    self._drain(timeout=0.05)
                except KeyboardInterrupt as exc:
                    # Devices not started are dropped; devices in flight are finished (or put
                    # back): abandoning one between change and verify could lock it out.
                    interrupted = exc
                    for future in pending:
                        future.cancel()
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    if future.cancelled():
                        continue
                    for index, result in zip(futures[future], future.result(), strict=True):
                        results[index] = result
                        if progress is not None:
                            progress(result)
            self._drain(timeout=0)
        if interrupted is not None:
            raise interrupted
        return results

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def _device(self, job: Callable, targets: list[Target]) -> list[Any]:
        """One device's accounts, one after the other."""
        return [self._guarded(job, target) for target in targets]

    def _guarded(self, job: Callable, target: Target) -> Any:
        lifecycle = DeviceLifecycle(target, self.settings)
        try:
            return job(lifecycle)
        except Exception as exc:  # a bug in one device's path must not stop the others
            log.error("unexpected error on %s: %s", target.label, scrub(repr(exc)))
            lifecycle.result.status = "needs_attention"
            lifecycle.result.error = scrub(f"internal error: {type(exc).__name__}: {exc}")
            return lifecycle.result

    def _emit_from_worker(self, event: StepEvent) -> str | None:
        """Hand ``event`` to the sink on the engine's thread and wait until it is recorded;
        returns why it could not be, or None."""
        if threading.get_ident() == self._main:
            return self._deliver(event)
        delivery = _Delivery(event)
        self._events.put(delivery)
        delivery.done.wait()
        return delivery.error

    def _drain(self, timeout: float) -> None:
        """Deliver every queued event, in one ``batch`` (one store commit for all the
        devices that reported meanwhile), then release the workers waiting on them."""
        try:
            first = self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
        except queue.Empty:
            return
        queued = [first]
        with contextlib.suppress(queue.Empty):
            while True:
                queued.append(self._events.get_nowait())
        waiting = [delivery for delivery in queued if delivery is not None]
        if not waiting:
            return
        try:
            with self.batch():
                for delivery in waiting:
                    delivery.error = self._deliver(delivery.event)
        except Exception as exc:
            # The batch's commit failed: none of these events is durable. Never raise here:
            # the workers must be released, and devices mid-change finished or put back.
            log.error("recording rotation events failed: %s", scrub(str(exc)))
            for delivery in waiting:
                delivery.error = delivery.error or scrub(f"{type(exc).__name__}: {exc}")
        finally:
            for delivery in waiting:
                delivery.done.set()

    def _deliver(self, event: StepEvent) -> str | None:
        try:
            self.on_event(event)
        except Exception as exc:
            log.error("recording %s %s failed: %s", event.target, event.step, scrub(str(exc)))
            return scrub(f"{type(exc).__name__}: {exc}")
        return None


@dataclass
class _Delivery:
    """An event on its way to the sink, and the worker waiting for it."""

    event: StepEvent
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


def _by_device(targets: list[Target]) -> list[list[int]]:
    """Indexes of ``targets`` grouped by device (host and port), in first-seen order."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, target in enumerate(targets):
        groups.setdefault((target.host, target.port), []).append(index)
    return list(groups.values())


def _dedupe(targets: Iterable[Target]) -> tuple[list[Target], list[Target]]:
    seen: set[tuple[str, int, str]] = set()
    unique, duplicates = [], []
    for target in targets:
        key = (target.host, target.port, target.username)
        (duplicates if key in seen else unique).append(target)
        seen.add(key)
    return unique, duplicates
