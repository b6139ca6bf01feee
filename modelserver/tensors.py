"""From protocol input tensors to feature rows, checked precisely.

The contract (``openapi/inference-v2.yaml``) already bounds sizes and types; what only the
model can know is checked here: names, shapes, element counts, datatypes and value ranges.
Every rejection is an :class:`InputError` whose message names the tensor at fault, because the
caller is a program whose author has to find the mistake from that message alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelserver.model import LogisticModel

FEATURES_TENSOR = "features"
FLOAT_DATATYPES = frozenset({"FP64", "FP32"})
OUTPUTS = ("probability", "label")
MAX_ROWS = 1024
# Far beyond any measurement in the data set (largest: worst area ≈ 4254) but small enough that
# the standardised terms cannot overflow to inf and turn the sum into nan.
MAX_ABS_VALUE = 1e9


class InputError(ValueError):
    """The request does not fit the model: answered 400 with this message."""


def _count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _flatten(name: str, data: Sequence[Any], shape: Sequence[int]) -> list[Any]:
    """The elements in row-major order, from flat or one-level nested (row per item) data."""
    nested = [isinstance(item, list) for item in data]
    if not any(nested):
        flat = list(data)
    elif all(nested):
        width = _count(shape[1:])
        if len(data) != shape[0] or any(len(row) != width for row in data):
            raise InputError(f"input {name!r}: nested data does not match shape {list(shape)}")
        flat = [element for row in data for element in row]
    else:
        raise InputError(f"input {name!r}: data mixes nested lists and scalars")
    if len(flat) != _count(shape):
        raise InputError(
            f"input {name!r}: shape {list(shape)} needs {_count(shape)} elements, got {len(flat)}"
        )
    return flat


def _numbers(name: str, tensor: Mapping[str, Any]) -> list[float]:
    if tensor["datatype"] not in FLOAT_DATATYPES:
        raise InputError(f"input {name!r}: datatype must be FP64 or FP32, got {tensor['datatype']}")
    values = []
    for index, element in enumerate(_flatten(name, tensor["data"], tensor["shape"])):
        # bool is an int in Python and JSON true is no measurement.
        if isinstance(element, bool) or not isinstance(element, int | float):
            raise InputError(f"input {name!r}: element {index} is not a number")
        value = float(element)
        # Python's json accepts NaN and Infinity literals; the model must never see them.
        if not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
            raise InputError(f"input {name!r}: element {index} is not finite or beyond ±1e9")
        values.append(value)
    return values


def _check_rows(name: str, n: int) -> None:
    if not 1 <= n <= MAX_ROWS:
        raise InputError(f"input {name!r}: batch size must be 1 to {MAX_ROWS}, got {n}")


def _from_features_tensor(model: LogisticModel, tensor: Mapping[str, Any]) -> list[list[float]]:
    shape = tensor["shape"]
    width = model.n_features
    if len(shape) != 2 or shape[1] != width:
        raise InputError(f"input {FEATURES_TENSOR!r}: expected shape [n, {width}], got {shape}")
    _check_rows(FEATURES_TENSOR, shape[0])
    values = _numbers(FEATURES_TENSOR, tensor)
    return [values[i : i + width] for i in range(0, len(values), width)]


def _from_named_tensors(
    model: LogisticModel, tensors: Mapping[str, Mapping[str, Any]]
) -> list[list[float]]:
    expected = set(model.feature_names)
    unknown = sorted(set(tensors) - expected)
    missing = [f for f in model.feature_names if f not in tensors]
    if unknown:
        raise InputError(
            f"unknown input {unknown[0]!r}: expected {FEATURES_TENSOR!r} or the "
            f"{model.n_features} named features"
        )
    if missing:
        raise InputError(
            f"missing {len(missing)} feature input(s), first {missing[0]!r}: give all "
            f"{model.n_features} named features or one {FEATURES_TENSOR!r} tensor"
        )
    columns = []
    batch = None
    for name in model.feature_names:
        shape = tensors[name]["shape"]
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InputError(f"input {name!r}: expected shape [n] or [n, 1], got {shape}")
        if batch is None:
            _check_rows(name, shape[0])
            batch = shape[0]
        elif shape[0] != batch:
            raise InputError(f"input {name!r}: batch size {shape[0]} differs from {batch}")
        columns.append(_numbers(name, tensors[name]))
    return [list(row) for row in zip(*columns, strict=True)]


def feature_rows(model: LogisticModel, inputs: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """The rows of features in the model's column order, from either accepted input form."""
    by_name: dict[str, Mapping[str, Any]] = {}
    for tensor in inputs:
        if tensor["name"] in by_name:
            raise InputError(f"input {tensor['name']!r} given twice")
        by_name[tensor["name"]] = tensor
    if FEATURES_TENSOR in by_name:
        if len(by_name) > 1:
            raise InputError(f"give either one {FEATURES_TENSOR!r} tensor or named features")
        return _from_features_tensor(model, by_name[FEATURES_TENSOR])
    return _from_named_tensors(model, by_name)


def requested_outputs(outputs: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The output names asked for, in the order asked; all of them when none are named."""
    if not outputs:
        return list(OUTPUTS)
    names = [str(o["name"]) for o in outputs]
    for name in names:
        if name not in OUTPUTS:
            raise InputError(f"unknown output {name!r}: this model returns {', '.join(OUTPUTS)}")
    if len(set(names)) != len(names):
        raise InputError("an output is requested twice")
    return names
