"""What a request must be before any handler sees it, and how a refusal reads.

The request validation (``service.validation``) applies these rules to every operation; this
module decides them:

- a body is JSON (RFC 8259: UTF-8, no byte order mark, no NaN or Infinity, no lone surrogate,
  numbers that fit a double) nested at most ``MAX_JSON_DEPTH`` arrays and objects deep, or a
  form where the operation takes one; anything else is a 400 before the schema is looked at;
- a body comes with a ``Content-Type`` the operation accepts, else 415 with ``Accept`` naming
  what it does accept (a body without one is not guessed at: a client that forgot the header
  is told so rather than having its bytes read as something they may not be);
- every 400 from validation lists what was wrong in ``errors``, one entry per offending value:
  ``{"pointer": "/json/pointer", "message": …}`` for a body member (RFC 6901; ``""`` is the
  whole body) or ``{"parameter": name, "in": "query"|"path"|"header", "message": …}`` for a
  parameter. Messages are short, name the rule broken and never quote the value (it may be a
  password, and it may be megabytes long); ``detail`` is the first of them as a sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

import orjson
from connexion.exceptions import ProblemException
from jsonschema import ValidationError

from service.formats import DATE_TIME_RULE

_log = logging.getLogger("medai.inputs")

MAX_JSON_DEPTH = 32
"""Arrays and objects inside one another. No schema of this API goes deeper than four, and
parsing, validating and binding a body all recurse over it."""

MAX_ERRORS = 20
"""Entries in ``errors``: enough to fix a form in one go, bounded for a hostile body."""


class BodyError(TypedDict):
    pointer: str
    message: str


# "in" is a Python keyword, hence the functional form.
ParameterError = TypedDict("ParameterError", {"parameter": str, "in": str, "message": str})

InputError = BodyError | ParameterError


# The spec's bounds (Problem.errors): a member name comes from the client and may be long.
MAX_POINTER, MAX_NAME, MAX_MESSAGE = 500, 100, 500


def parameter_error(name: str, location: str, message: str) -> ParameterError:
    return {"parameter": name[:MAX_NAME], "in": location, "message": message[:MAX_MESSAGE]}


def body_error(pointer: str, message: str) -> BodyError:
    return {"pointer": pointer[:MAX_POINTER], "message": message[:MAX_MESSAGE]}


class InvalidInput(ProblemException):  # type: ignore[misc]
    """A 400 listing every value that broke a rule (the ``errors`` member)."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        listed = list(_unique(errors))[:MAX_ERRORS]
        # A client's mistake, not the server's: INFO, naming the fields and never their values
        # (a refused sign-in form carries a password).
        _log.info(
            "request refused by validation (values withheld from the log): %s",
            ", ".join(_named(error) for error in listed),
        )
        super().__init__(
            status=400,
            title="Bad Request",
            detail=_sentence(listed, len(listed) - 1),
            ext={"errors": listed},
        )


class UnsupportedMediaType(ProblemException):  # type: ignore[misc]
    """415: no Content-Type, or one the operation does not take; ``Accept`` lists those it
    takes (RFC 9110, section 15.5.16)."""

    def __init__(self, given: str | None, accepted: Sequence[str]) -> None:
        listed = ", ".join(accepted)
        told = (
            f"Content-Type {given} is not accepted here"
            if given
            else "The body has no Content-Type"
        )
        super().__init__(
            status=415,
            title="Unsupported Media Type",
            detail=f"{told}; send it as {' or '.join(accepted)}.",
            headers={"Accept": listed},
            ext={
                "errors": [parameter_error("Content-Type", "header", f"must be one of: {listed}")]
            },
        )


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body, or ``InvalidInput``; never a ``RecursionError``."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        # orjson stops at its own depth limit (1024) without recursing in Python.
        if "depth" in error.msg:
            raise _too_deep() from None
        raise InvalidInput([body_error("", f"is not valid JSON: {error}")]) from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise _too_deep()
    return value


def _too_deep() -> InvalidInput:
    return InvalidInput([body_error("", f"is nested deeper than {MAX_JSON_DEPTH} levels")])


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def body_errors(errors: Iterable[ValidationError]) -> list[BodyError]:
    """One entry per offending member, ordered by pointer."""
    found: list[BodyError] = []
    for error in errors:
        base = pointer(error.absolute_path)
        if error.validator == "required":
            found += [
                body_error(f"{base}/{_escape(name)}", "is required")
                for name in error.validator_value
                if isinstance(error.instance, dict) and name not in error.instance
            ]
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            found += [
                body_error(f"{base}/{_escape(str(name))}", "is not allowed here (unknown member)")
                for name in error.instance
                if name not in known
            ]
        else:
            found.append(body_error(base, describe(error)))
    return sorted(found, key=lambda entry: entry["pointer"])


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer of a path of member names and array indexes."""
    return "".join(f"/{_escape(str(step))}" for step in path)


def _escape(step: str) -> str:
    return step.replace("~", "~0").replace("/", "~1")


def describe(error: ValidationError) -> str:
    """What rule ``error`` broke, without the offending value."""
    rule, bound, schema = error.validator, error.validator_value, error.schema
    if rule == "type":
        types = bound if isinstance(bound, list) else [bound]
        return "is not of type " + " or ".join(f"'{t}'" for t in types)
    if rule == "format":
        return DATE_TIME_RULE if bound == "date-time" else f"is not a valid {bound}"
    if rule in _SIZES:
        word, unit = _SIZES[rule]
        return f"{word} ({'at most' if rule.startswith('max') else 'at least'} {bound} {unit})"
    if rule == "maximum":
        strict = " or equal to" if schema.get("exclusiveMaximum") else ""
        return f"is greater than{strict} the maximum of {bound}"
    if rule == "minimum":
        strict = " or equal to" if schema.get("exclusiveMinimum") else ""
        return f"is less than{strict} the minimum of {bound}"
    if rule == "enum":
        return "is not one of " + ", ".join(repr(choice) for choice in bound)
    if rule == "pattern":
        return f"does not match the pattern {bound!r}"
    if rule == "uniqueItems":
        return "has repeated items"
    if rule == "multipleOf":
        return f"is not a multiple of {bound}"
    if rule in ("readOnly", "x-readOnly"):
        return "is read-only"
    return f"is not valid (rule '{rule}')"


_SIZES = {
    "maxLength": ("is too long", "characters"),
    "minLength": ("is too short", "characters"),
    "maxItems": ("is too long", "items"),
    "minItems": ("is too short", "items"),
    "maxProperties": ("has too many members", "members"),
    "minProperties": ("has too few members", "members"),
}

_SUBJECTS = {"query": "Query parameter", "path": "Path parameter", "header": "Header"}


def _sentence(errors: Sequence[InputError], more: int) -> str:
    first = {key: str(value) for key, value in errors[0].items()}
    if "parameter" in first:
        location = str(first.get("in", ""))
        subject = (
            f"{_SUBJECTS.get(location, location.title() + ' parameter')} '{first['parameter']}'"
        )
    elif first.get("pointer"):
        subject = f"Body member '{first['pointer']}'"
    else:
        subject = "The body"
    tail = f" (and {more} more: see errors)" if more > 0 else ""
    return f"{subject} {first['message']}{tail}."


def _named(error: InputError) -> str:
    named: dict[str, str] = {key: str(value) for key, value in error.items()}
    if "pointer" in named:
        return named["pointer"] or "(the body)"
    return f"{named['in']} parameter {named['parameter']}"


def _unique(errors: Iterable[InputError]) -> Iterable[InputError]:
    seen: set[tuple[tuple[str, object], ...]] = set()
    for error in errors:
        key = tuple(sorted(error.items()))
        if key not in seen:
            seen.add(key)
            yield error
