"""String formats the spec relies on that Connexion's Draft 4 validator does not check.

Without these, a malformed ``uuid`` or ``date`` reaches the handler as a plain string and turns
into a 500 (measured, ../shared/DESIGN.md). ``date-time`` is checked by rfc3339-validator,
which also rejects timestamps without an offset.
"""

from __future__ import annotations

import re
from datetime import date

from jsonschema import Draft4Validator

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


def register() -> None:
    """Idempotent: the checker is Connexion's process-wide one."""
    checker = Draft4Validator.FORMAT_CHECKER
    checker.checks("uuid")(_uuid)
    checker.checks("date")(_date)
    checker.checks("email")(_email)
