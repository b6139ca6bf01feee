"""String formats the spec relies on that Connexion's Draft 4 validator does not check.

Without these, a malformed ``uuid`` or ``date`` reaches the handler as a plain string and turns
into a 500 (measured, ../shared/DESIGN.md). A ``date-time`` is RFC 3339 with an offset
(rfc3339-validator) naming an instant from 1900 up to, not including, the year 9000 in UTC:
Python and PostgreSQL both hold year 9999 with an offset of -14:00 only as a local time, and
the conversion to UTC overflowed (a 500) at either end of their range. The bounds are
published in the spec (``Timestamp``) and leave room for the arithmetic done on a time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from jsonschema import Draft4Validator
from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
END = datetime(9000, 1, 1, tzinfo=UTC)
DATE_TIME_RULE = (
    "is not an RFC 3339 date-time with an offset, at or after 1900-01-01T00:00:00Z and "
    "before 9000-01-01T00:00:00Z"
)


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not validate_rfc3339(value):
        return False
    try:
        # fromisoformat refuses what RFC 3339 allows but no datetime holds (a leap second).
        moment = datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return EARLIEST <= moment < END


def register() -> None:
    """Idempotent: the checker is Connexion's process-wide one."""
    checker = Draft4Validator.FORMAT_CHECKER
    checker.checks("uuid")(_uuid)
    checker.checks("date")(_date)
    checker.checks("email")(_email)
    checker.checks("date-time")(_date_time)
