"""The lists' SQL is built from the query objects by field name (``persistence.listing``):
every filter field has its own condition, bound under its own name, so no two filters can be
swapped by position and a field without a condition is refused, not ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.queries import AppointmentQuery, AuditQuery
from persistence import appointments, audit, inference_records
from persistence.listing import Listing

LISTINGS = {
    "appointments": appointments.LISTING,
    "audit": audit.LISTING,
    "inference_records": inference_records.LISTING,
}


@pytest.mark.parametrize("listing", LISTINGS.values(), ids=LISTINGS.keys())
def test_every_filter_field_has_a_condition_bound_under_its_name(listing: Listing) -> None:
    bare = listing.sql(()).text
    assert listing.filters
    for name in listing.filters:
        text = listing.sql((name,)).text
        assert text != bare, name
        # Its own parameter (a field may bind derived ones too: audit's patient_ids).
        assert f"%({name})s" in text or f"%({name}s)s" in text, (name, text)


def test_filters_bind_by_name_whatever_their_order() -> None:
    doctor, patient = uuid4(), uuid4()
    query = AppointmentQuery(doctor_id=doctor, patient_id=patient, statuses=("booked",))
    sql, params = appointments.LISTING.statement(query)
    assert params["doctor_id"] == doctor
    assert params["patient_id"] == patient
    assert params["statuses"] == ["booked"]
    assert "appointments.doctor_id = %(doctor_id)s" in sql.text
    assert "appointments.patient_id = %(patient_id)s" in sql.text


def test_a_window_binds_its_derived_bound_and_a_cursor_its_key() -> None:
    moment = datetime(2030, 1, 1, 12, tzinfo=UTC)
    after = (moment, uuid4())
    sql, params = appointments.LISTING.statement(
        AppointmentQuery(window_from=moment, after=after, descending=True)
    )
    assert params["earliest_start"] < params["window_from"] == moment
    assert (params["after_start"], params["after_id"]) == after
    assert "DESC" in sql.text


def test_a_field_without_a_condition_is_refused() -> None:
    listing = Listing(AppointmentQuery, {}, lambda where, shape: None)
    with pytest.raises(LookupError, match="doctor_id"):
        listing.sql(("doctor_id",))


def test_conditions_must_name_fields_of_the_query() -> None:
    with pytest.raises(LookupError, match="doctor"):
        Listing(AppointmentQuery, {"doctor": lambda: []}, lambda where, shape: None)


def test_only_defaults_leave_a_field_out() -> None:
    # An empty text is a value to filter by; None and an empty tuple are "no filter".
    assert audit.LISTING.shape(AuditQuery(action="", resource_id=None)) == ("action",)
    assert appointments.LISTING.shape(AppointmentQuery(statuses=())) == ()
