"""Signing in to the console in tests: every staff user gets the same known TOTP secret, and a
clock the tests move on (a TOTP code is accepted once per 30-second step)."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.console import totp
from gateway.console.models import StaffSecondFactor
from gateway.models import utcnow

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a test-only TOTP secret


class Clock:
    """A clock the test moves; starts now."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def enrol(session, staff_id: int, encryption_key: str,  # noqa: ANN001
          secret: str = SECRET) -> None:
    """Give a staff user a confirmed second factor (stored encrypted, as the console does)."""
    session.add(StaffSecondFactor(staff_id=staff_id,
                                  secret_encrypted=totp.SecretBox(encryption_key).encrypt(secret),
                                  enabled_at=utcnow()))


def code(now: datetime, secret: str = SECRET) -> str:
    return totp.code_at(secret, totp.step_of(now))


def install_clock(app) -> Clock:  # noqa: ANN001
    """Make the app's clock (escalations and console) a Clock the test controls."""
    clock = Clock()
    app.state.escalations.clock = clock
    return clock


def next_code(clock: Clock, secret: str = SECRET) -> str:
    """A fresh code: moves the clock to the next 30-second step (each step is used once)."""
    clock.advance(seconds=totp.STEP_SECONDS)
    return code(clock.now, secret)
