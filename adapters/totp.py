"""TOTP (RFC 6238) with pyotp: the domain's ``TotpAuthenticator`` port.

Six digits, 30-second steps, SHA-1: what every authenticator app accepts by default (the
provisioning URI leaves them implicit). A code is accepted one step either side of now, for
clocks a little off and codes typed as they roll over; which step it matched is returned, so the
domain can refuse that step (and earlier ones) from then on.
"""

from __future__ import annotations

import pyotp
from pyotp.exceptions import OTPVerificationError

# One step either side: RFC 6238 §5.2 recommends at most one step of network delay.
VALID_WINDOW = 1


class PyOtpAuthenticator:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def new_secret(self) -> str:
        # 32 base32 characters: 160 bits, the size RFC 4226 §4 recommends for HMAC-SHA-1.
        return pyotp.random_base32()

    def provisioning_uri(self, secret: str, account: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=self.issuer)

    def matching_step(self, secret: str, code: str, *, for_time: float | None = None) -> int | None:
        """The time step ``code`` is the code of, within the window around now; None: none."""
        try:
            return pyotp.TOTP(secret).verify_and_get_timecode(
                code, for_time=for_time, valid_window=VALID_WINDOW
            )
        except OTPVerificationError:
            return None

    def code_at(self, secret: str, for_time: float) -> str:
        """The code an authenticator shows at ``for_time`` (for tests and tooling)."""
        return pyotp.TOTP(secret).at(for_time)
