"""One device's rotation, step by step: preflight, escrow, change, verify, save, promote.

Every step emits a StepEvent; on any failure after the change the device is put back (or
rolled forward when the new password demonstrably works), and a password that might be
live on the device is never removed from the secret store.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from agent.core.errors import ScopeError, UsageError
from agent.core.scope import ScopeGuard
from agent.core.secret import Secret, scrub
from agent.core.secret_store import SecretStoreError
from rotation.contract import (
    AccountMissing,
    ChangeRejected,
    ConnectionLost,
    Driver,
    DriverEnv,
    DriverError,
    LoginRefused,
    PeerRejected,
    Target,
    UnsafeValue,
)
from rotation.drivers import driver_for
from rotation.hostkeys import HostKeyPins
from rotation.results import RotationResult, StepEvent, VerifyResult

CRASH_ENV = "KEYTURN_TEST_CRASH_AFTER"


def crash_point(step: str) -> None:
    """Test hook: die like SIGKILL right after ``step`` (crash-safety tests only)."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(137)


@dataclass
class Settings:
    """What every device's lifecycle shares for one run."""

    secrets: Any  # SecretStore (thread-safe)
    pins: HostKeyPins
    scope: ScopeGuard
    # Records one event; returns why it could not (the audit log is part of the contract).
    emit: Callable[[StepEvent], str | None]
    timeout: float = 60.0
    password_length: int | None = None
    check_old_refused: bool = True
    # Called after escrow, change and verify (the points a crash test kills the process).
    crash: Callable[[str], None] = crash_point
    # Held while a lifecycle talks to its device (the engine's --parallel); keyring writes
    # (escrow, promote) happen outside it, so a slow keyring never idles a device slot.
    slot: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext


class Abort(Exception):
    """Stop this device's lifecycle with ``result`` as it stands."""


class DeviceLifecycle:
    def __init__(self, target: Target, settings: Settings) -> None:
        self.target = target
        self.s = settings
        self.result = RotationResult(target.host, target.platform, target.username)
        if target.transport != "ssh":
            self.result.transport = target.transport
        self.driver_class: type[Driver] | None = None
        self.env = DriverEnv(stored=self._lookup, pins=settings.pins, timeout=settings.timeout)
        self.identity: dict[str, str] = {}
        self.pending_note = ""
        self.touched = False  # set just before the change is sent
        self.refused_device = False  # keyturn refused the device (scope, identity, names)

    # -- plumbing ------------------------------------------------------------------------
    def emit(self, step: str, outcome: str, **detail: Any) -> None:
        """Record a step. Before the device is touched, an unrecordable step stops the
        rotation; after, the device is still finished or put back (and the log says so)."""
        clean = {k: scrub(v) if isinstance(v, str) else v for k, v in detail.items()}
        t = self.target
        if t.transport != "ssh":
            clean["transport"] = t.transport
        error = self.s.emit(StepEvent(t.host, t.platform, t.username, step, outcome, clean))
        if error and not self.touched and step != "result":
            raise self.stop(
                "failed", f"the audit log could not record {step!r}, device not touched: {error}"
            )

    def stop(self, status: str, error: str | None = None, *, refused: bool = False) -> Abort:
        self.result.status = status
        self.result.error = scrub(error) if error else None
        self.refused_device = self.refused_device or refused
        return Abort()

    def _lookup(self, user: str, version: str) -> Secret | None:
        return self.s.secrets.get(self.target.host, user, version)

    def store_get(self, version: str, user: str | None = None) -> Secret | None:
        return self._lookup(user or self.target.username, version)

    def driver(self) -> Driver:
        assert self.driver_class is not None
        return self.driver_class(self.target, self.env)

    def login(self, rotated: Secret) -> Driver:
        """A fresh, privileged session in which ``rotated`` is the account's password."""
        driver = self.driver()
        try:
            driver.open(rotated)
        except BaseException:
            driver.close()
            raise
        return driver

    def check(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """A fresh login proving ``rotated`` (lighter than ``login``: nothing to send); with
        ``refused``, whether the device refuses that one (see Driver.verify)."""
        return self.driver().verify(rotated, refused)

    def works(self, rotated: Secret) -> bool:
        try:
            self.check(rotated)
        except DriverError:
            return False
        return True

    # -- shared preflight ------------------------------------------------------------------
    def preflight_network(self) -> None:
        """Platform, names, scope and the peer's identity, all before any password is sent."""
        t = self.target
        try:
            self.driver_class = driver_for(t.platform, t.transport)
        except UsageError as exc:
            self.emit("preflight.platform", "unknown")
            raise self.stop("failed", str(exc)) from None
        try:
            self.driver_class.check_target(t)
        except UnsafeValue as exc:
            self.emit("preflight.target", "refused", error=str(exc))
            raise self.stop("failed", f"refused before connecting: {exc}", refused=True) from None
        try:
            self.s.scope.check(t.host)
        except ScopeError as exc:
            self.emit("preflight.scope", "refused", error=str(exc))
            raise self.stop("failed", f"refused before connecting: {exc}", refused=True) from None
        check = f"preflight.{self.driver_class.identity_check}"
        try:
            identity = self.driver().preflight()
        except PeerRejected as exc:
            self.emit(check, "changed", error=str(exc))
            raise self.stop("failed", str(exc), refused=True) from None
        except DriverError as exc:
            self.emit(check, "unreachable", error=str(exc))
            raise self.stop("failed", str(exc)) from None
        if identity is None:
            return
        # Success is one "preflight" event (fewer fsynced audit lines per device); a first
        # contact is worth its own line: the operator should compare the fingerprint.
        self.identity = {
            self.driver_class.identity_check: "pinned" if identity.first_contact else "known",
            "fingerprint": identity.fingerprint,
        }
        if identity.first_contact:
            self.emit(check, "pinned", fingerprint=identity.fingerprint)

    # -- crash safety ------------------------------------------------------------------------
    def reconcile(self, dry_run: bool = False) -> None:
        """A pending secret from an interrupted run: keep whichever password logs in
        (a dry run only says it would)."""
        t = self.target
        # The credential's own entry says whether a pending version exists: one keyring
        # read, the same one that fetches the current password (the index only lists).
        pending, current = self.store_get("pending"), self.store_get("current")
        if pending is None:
            return
        if dry_run:
            self.emit("reconcile", "would_reconcile")
            self.pending_note = "; a pending password from an interrupted run is reconciled first"
            return
        self.emit("reconcile", "start")
        if current is not None and self.works(current):
            self.s.secrets.drop(t.host, t.username, "pending")
            self.emit("reconcile", "current_works")
            return
        try:
            assert self.driver_class is not None
            if not self.driver_class.open_proves_rotated:
                self.check(pending)  # one bind with the pending password itself
            session = self.login(pending)
        except DriverError:
            self.emit("reconcile", "neither_works")
            raise self.stop(
                "needs_attention",
                "an interrupted rotation left a pending password and neither it nor the "
                "current one logs in; both are kept (secrets get --version pending/current)",
            ) from None
        try:
            # The interrupted run may have died before saving: persist what is live.
            if session.needs_save:
                session.save()
        except DriverError as exc:
            self.s.secrets.promote(t.host, t.username)
            self.emit("reconcile", "promoted_unsaved", error=str(exc))
            raise self.stop(
                "needs_attention", f"pending password works but save failed: {exc}"
            ) from None
        finally:
            session.close()
        self.s.secrets.promote(t.host, t.username)
        self.emit("reconcile", "promoted")

    # -- the rotation ------------------------------------------------------------------------
    def rotate(self, dry_run: bool = False) -> RotationResult:
        try:
            self._rotate(dry_run)
        except Abort:
            pass
        except SecretStoreError as exc:
            self.emit("secret_store", "failed", error=str(exc))
            self.result.status, self.result.error = "needs_attention", scrub(str(exc))
        self.emit("result", self.result.status, **self.result.as_dict())
        return self.result

    def _rotate(self, dry_run: bool) -> None:
        t = self.target
        with self.s.slot():
            self.preflight_network()
            self.reconcile(dry_run)
        current = self.store_get("current")
        if current is None:
            self.emit("preflight.credential", "missing")
            raise self.stop("failed", f"no stored credential for {t.label} (keyturn secrets set)")
        new = None if dry_run else self._escrow()
        try:
            with self.s.slot():
                self._on_device(current, new)
        except Abort:
            if new is not None and not self.touched:
                # Escrowed, never sent: the pending value can go (the next run's reconcile
                # drops it if this fails: the current password still logs in).
                with contextlib.suppress(SecretStoreError):
                    self.s.secrets.drop(t.host, t.username, "pending")
            raise
        if new is not None:
            self._promote()

    def _on_device(self, current: Secret, new: Secret | None) -> None:
        """Log in, check the account, then (unless a dry run) change, verify and save."""
        t = self.target
        try:
            session = self.login(current)
        except PeerRejected as exc:
            assert self.driver_class is not None
            self.emit(f"preflight.{self.driver_class.identity_check}", "changed", error=str(exc))
            raise self.stop("failed", str(exc), refused=True) from None
        except LoginRefused as exc:
            self.emit("preflight.login", "refused", error=str(exc))
            raise self.stop(
                "failed",
                "the stored password was refused (changed outside keyturn?); nothing was changed",
            ) from None
        except DriverError as exc:
            self.emit("preflight.login", "failed", error=str(exc))
            raise self.stop("failed", str(exc)) from None
        try:
            try:
                if not session.account_exists():
                    raise AccountMissing(f"account {t.username} does not exist on {t.host}")
            except DriverError as exc:
                self.emit("preflight.account", "failed", error=str(exc))
                raise self.stop("failed", str(exc)) from None
            auth = self.read_auth(session)
            self.emit(
                "preflight", "ok", scope="ok", login="ok", account="ok", **auth, **self.identity
            )
            if new is None:
                dependents = session.dependents()
                self.result.plan = (
                    f"would set a new {self.policy_length()}-character password"
                    f"{self.auth_note()}{self.pending_note}{self.transport_note()}"
                    + "".join(f"; {note}" for note in dependents)
                )
                self.emit(
                    "plan", "would_change", length=self.policy_length(), dependents=dependents
                )
                raise self.stop("unchanged")
            self._change(session, new, current)
        finally:
            session.close()

    def read_auth(self, session: Driver) -> dict[str, str]:
        """Whether the device asks AAA servers before the local account (result.auth and
        aaa_servers; the event's detail). A device that cannot say is not an error."""
        try:
            servers = session.auth_servers()
        except DriverError:
            servers = None
        if servers is None:
            return {}
        self.result.auth = "aaa-fallback" if servers else "local"
        self.result.aaa_servers = list(servers)
        return {"auth": self.result.auth, "aaa_servers": ",".join(servers)}

    def auth_note(self) -> str:
        servers = ", ".join(self.result.aaa_servers)
        return f"; the local account is the AAA fallback (servers {servers})" if servers else ""

    def transport_note(self) -> str:
        if self.target.transport == "telnet":
            return "; over telnet: the old and new passwords cross the network in clear"
        return ""

    def policy_length(self) -> int:
        assert self.driver_class is not None
        return self.driver_class.policy.length_for(self.s.password_length)

    def _escrow(self) -> Secret:
        """A new password, checked against the policy and escrowed as pending (read back)
        before any session opens: keyring time is not device time."""
        t = self.target
        assert self.driver_class is not None
        policy = self.driver_class.policy
        new = policy.generate(self.s.password_length)
        refusal = policy.refusal(new)
        if refusal:  # a generator bug must not reach a device
            raise self.stop("failed", f"generated password refused by the policy: {refusal}")
        try:
            self.s.secrets.put(t.host, t.username, new, "pending", platform=t.platform)
        except SecretStoreError as exc:
            self.emit("escrow", "failed", error=str(exc))
            raise self.stop("failed", f"escrow failed, device not touched: {exc}") from None
        try:
            self.emit("escrow", "ok", length=len(new))
        except Abort:
            # Not recorded, not sent: the escrowed value can go.
            with contextlib.suppress(SecretStoreError):
                self.s.secrets.drop(t.host, t.username, "pending")
            raise
        return new

    def _change(self, session: Driver, new: Secret, old: Secret) -> None:
        t = self.target
        self.s.crash("escrow")
        self.touched = True
        try:
            session.change(new, old)
        except UnsafeValue as exc:
            # Refused by a command builder before anything was sent.
            self.s.secrets.drop(t.host, t.username, "pending")
            self.emit("change", "refused", error=str(exc))
            raise self.stop("failed", f"nothing was sent: {exc}", refused=True) from None
        except ChangeRejected as exc:
            self.emit("change", "rejected", error=str(exc))
            self._after_rejection(session, new, old, str(exc))
        except ConnectionLost as exc:
            self.emit("change", "unknown", error=str(exc))
            self._after_lost_change(new, old, str(exc))
            return
        self.emit("change", "ok")
        self.s.crash("change")
        try:
            self._verify_new(new, old)
        except DriverError as exc:
            self.emit("verify", "failed", error=str(exc))
            self._roll_back(session, new, old, f"the new password did not log in: {exc}")
        self.emit("verify", "ok")
        self._complete(session, new, old)

    def _verify_new(self, new: Secret, old: Secret) -> None:
        """A fresh login with ``new``; where asked, the old password's refusal is checked
        in the same breath (one connection: the driver tries the old one first)."""
        refused = self.check(new, old if self.s.check_old_refused else None)
        self.result.old_password_refused = refused
        if refused is not None:
            self.emit("verify.old_refused", "ok" if refused else "still_accepted")

    def _complete(self, session: Driver | None, new: Secret, old: Secret) -> None:
        """Verified: save (in the change's session while it lives); promotion follows
        outside the device slot."""
        self.result.verified = True
        self.s.crash("verify")
        opened = None
        try:
            saver = session if session is not None and session.alive else None
            try:
                if saver is None:
                    saver = opened = self.login(new)
                saver.save()
            except DriverError as exc:
                self.emit("save", "failed", error=str(exc))
                self._roll_back(saver, new, old, f"save failed: {exc}")
            self.result.saved = True
            self.emit("save", "ok" if saver.needs_save else "not_needed")
        finally:
            if opened is not None:
                opened.close()

    def _promote(self) -> None:
        """pending -> current once the device has saved it (outside the device slot)."""
        t = self.target
        try:
            self.s.secrets.promote(t.host, t.username)
        except SecretStoreError as exc:
            self.emit("promote", "failed", error=str(exc))
            raise self.stop(
                "needs_attention",
                "the device has the new password but the keyring could not promote it "
                f"(it is kept as pending): {exc}",
            ) from None
        self.emit("promote", "ok")
        self.result.status = "rotated"

    def _after_rejection(self, session: Driver, new: Secret, old: Secret, reason: str) -> NoReturn:
        # Best effort: a session that cannot leave config mode is closed anyway.
        with contextlib.suppress(DriverError):
            session.discard()
        if self.works(old):
            self.s.secrets.drop(self.target.host, self.target.username, "pending")
            self.emit("verify.old", "ok")
            raise self.stop(
                "failed", f"device rejected the new password, nothing changed: {reason}"
            )
        self._roll_back(session, new, old, reason)

    def _after_lost_change(self, new: Secret, old: Secret, reason: str) -> None:
        """The session died mid-change: find out which password is live, then finish or stop."""
        try:
            self._verify_new(new, old)
        except DriverError:
            pass
        else:
            self.emit("verify", "ok", note="change took effect before the connection dropped")
            self._complete(None, new, old)
            return
        if self.works(old):
            self.s.secrets.drop(self.target.host, self.target.username, "pending")
            self.emit("verify.old", "ok")
            raise self.stop(
                "failed", f"connection lost during the change; device unchanged: {reason}"
            )
        self.emit("verify.old", "failed")
        raise self.stop(
            "needs_attention",
            f"connection lost during the change and neither "
            f"password logs in; both are kept in the keyring: {reason}",
        )

    def _roll_back(self, session: Driver | None, new: Secret, old: Secret, reason: str) -> NoReturn:
        """Put the old password back, prove it logs in, or keep both candidates."""
        t = self.target
        reverted = session is not None and session.alive and self._revert(session, new, old)
        if not reverted:
            # The session is gone: get back in with whichever password is live now.
            try:
                fresh = self.login(new)
            except DriverError:
                fresh = None
            if fresh is not None:
                try:
                    reverted = self._revert(fresh, new, old)
                finally:
                    fresh.close()
        self.emit("revert", "ok" if reverted else "not_possible")
        if self.works(old):
            self.emit("verify.old", "ok")
            self.s.secrets.drop(t.host, t.username, "pending")
            raise self.stop("rolled_back" if reverted else "failed", reason)
        self.emit("verify.old", "failed")
        raise self.stop(
            "needs_attention",
            f"{reason}; the old password could not be confirmed "
            "after the revert; both candidates are kept (current and pending)",
        )

    def _revert(self, session: Driver, new: Secret, old: Secret) -> bool:
        try:
            session.revert(old, new)
        except DriverError as exc:
            self.emit("revert", "failed", error=str(exc))
            return False
        return True

    # -- verify ------------------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        t = self.target
        result = VerifyResult(t.host, t.platform, t.username)
        try:
            with self.s.slot():
                self.preflight_network()
                result.status, result.error = self._verify_logins()
        except Abort:
            result.status = "refused" if self.refused_device else "failed"
            result.error = self.result.error
        self.emit("result", result.status, error=result.error)
        return result

    def _verify_logins(self) -> tuple[str, str | None]:
        current, pending = self.store_get("current"), self.store_get("pending")
        if current is None:
            return "failed", "no stored credential"
        try:
            self.check(current)
            return "ok", None
        except PeerRejected as exc:
            return "refused", str(exc)
        except LoginRefused:
            pass
        except DriverError as exc:
            return "failed", str(exc)
        if pending is not None and self.works(pending):
            return "pending_works", "an interrupted rotation's pending password logs in"
        return "changed", "the stored password is refused: changed outside keyturn?"


def known_hosts_next_to(store_path: Path) -> Path:
    return store_path.with_name(store_path.stem + ".known_hosts")
