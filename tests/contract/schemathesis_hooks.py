"""Schemathesis hooks of the contract gate, loaded by
``SCHEMATHESIS_HOOKS=tests.contract.schemathesis_hooks``.

A booking is valid only for a slot in the future, 5 minutes to 8 hours long, with people who
exist: no schema can say "in the future", so from generated timestamps nearly every booking is
refused (400) and the fuzzer never reaches a 201, nor the links from a booking to reading,
changing and deleting it. For the cases Schemathesis means to be valid (positive mode), these
hooks put a real slot into a booking or a change of time, and the gate's doctor and patient into
a booking; every other part of the case stays as generated. The slot is drawn uniformly from
Hypothesis's seeded random source, so a run is reproducible from its seed and different cases
rarely ask for the same time. A booking's Idempotency-Key, when the case sends one, is made
unique too (a fresh UUID): a key repeated with the same slot would (rightly) replay an earlier
booking, perhaps one deleted since, and Schemathesis would take that for a created resource that
vanished.

Likewise a prediction: only the model's exact feature names are accepted, which the model
states, not the schema. Valid prediction cases get the contract's own example case (the
``Features`` example, the 30 features of the reference model) and no patient or appointment
(which a doctor may only name for their own patients), so some reach a 201 and the link from a
prediction to its record.

And a sign-up: an email can be taken only once, and Schemathesis reuses the emails it has seen
in replies (the gate's own accounts), so valid sign-ups get a fresh drawn address.

And the gate doctor's availability: a change keeps it open around the clock (in a real zone),
or the bookings above would be refused. And a slot search: a window of at most 31 days in a
real time zone, where the bookings go.

Negative cases are left alone: they must still be refused.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import schemathesis
import yaml  # type: ignore[import-untyped]
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.contract import people

BOOKING, CHANGE, PREDICTION = "createAppointment", "updateAppointment", "runInference"
SLOT_SEARCHES = ("listDoctorSlots", "listSpecialtySlots")
AVAILABILITY = "replaceAvailability"
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
SIGN_UP = "registerPatient"
SPEC = Path(__file__).resolve().parents[2] / "openapi" / "medai.yaml"
# After the appointments the gate seeds (a month ahead, one a day for a few weeks) and well
# within a year: slots are half an hour on a half-hour grid over about five months.
FIRST_SLOT_DAYS = people.FUZZED_FROM_DAYS
SLOTS = 8_000
SLOT = timedelta(minutes=30)
IDEMPOTENCY_KEY = "Idempotency-Key"


def slot(index: int, now: datetime | None = None) -> tuple[str, str]:
    """The ``index``-th half-hour slot after the first slot day, as RFC 3339 strings."""
    first = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = first + timedelta(days=FIRST_SLOT_DAYS) + index * SLOT
    return start.isoformat(), (start + SLOT).isoformat()


def _operation_id(context: Any) -> str | None:
    operation = context.operation
    if operation is None:
        return None
    operation_id: str | None = operation.definition.raw.get("operationId")
    return operation_id


def _positive(case: Any) -> bool:
    return (
        case.meta is not None
        and case.meta.generation.mode == GenerationMode.POSITIVE
        and isinstance(case.body, dict)
    )


def _valid_timed(case: Any, operation_id: str | None) -> bool:
    return (
        operation_id in (BOOKING, CHANGE)
        and _positive(case)
        and (operation_id == BOOKING or {"start_at", "end_at"} <= case.body.keys())
    )


@cache
def example_prediction() -> dict[str, Any]:
    """The contract's example of a prediction to make (model and features)."""
    document = yaml.safe_load(SPEC.read_text())
    example: dict[str, Any] = document["components"]["schemas"]["InferenceCreate"]["example"]
    return example


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if _operation_id(context) == PREDICTION and _positive(case):
        case.body = dict(example_prediction())
    if _operation_id(context) == AVAILABILITY and _positive(case):
        # Open around the clock in some zone: a made-up zone is refused (400), which no schema
        # can say, and the gate's bookings need the doctor open whenever the hooks book.
        zone = ZONES[len(str(case.body.get("time_zone", ""))) % len(ZONES)]
        case.body = {**people.ALWAYS_OPEN, "time_zone": zone}
    return case


def _positive_query(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def with_window(case: Any, draw: random.Random) -> Any:
    """A slot search over 1 to 7 days where the hooks' bookings go, in a real zone, for the
    length the gate's doctor offers: a window over 31 days or a made-up zone is refused (400),
    which no schema can say."""
    start, _ = slot(draw.randrange(SLOTS))
    first = datetime.fromisoformat(start)
    case.query = {
        **(case.query or {}),
        "from": first.isoformat(),
        "to": (first + timedelta(days=draw.randint(1, 7))).isoformat(),
        "time_zone": draw.choice(ZONES),
        "length": 30,
    }
    return case


def with_slot(case: Any, operation_id: str | None, draw: random.Random) -> Any:
    """``case`` with a drawn slot (and, for a booking, the gate's people and a fresh key)."""
    start_at, end_at = slot(draw.randrange(SLOTS))
    case.body = {**case.body, "start_at": start_at, "end_at": end_at}
    if operation_id == BOOKING:
        case.body["doctor_id"] = os.environ["MEDAI_CONTRACT_DOCTOR_ID"]
        case.body["patient_id"] = os.environ["MEDAI_CONTRACT_PATIENT_ID"]
        if case.headers and IDEMPOTENCY_KEY in case.headers:
            # Fresh, not drawn: Hypothesis may draw the same choices again for another case.
            case.headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    return case


def with_fresh_email(case: Any, draw: random.Random) -> Any:
    case.body = {**case.body, "email": f"fuzz-{draw.getrandbits(64):016x}@example.org"}
    return case


@schemathesis.hook
def flatmap_case(context: Any, case: Any) -> Any:
    operation_id = _operation_id(context)
    if operation_id in SLOT_SEARCHES and _positive_query(case):
        return st.randoms(use_true_random=False).map(lambda draw: with_window(case, draw))
    if operation_id == SIGN_UP and _positive(case):
        return st.randoms(use_true_random=False).map(lambda draw: with_fresh_email(case, draw))
    if not _valid_timed(case, operation_id):
        return st.just(case)
    return st.randoms(use_true_random=False).map(lambda draw: with_slot(case, operation_id, draw))
