"""The Open Inference Protocol v2 as typed values, and the checks a reply must pass to become one.

Hand-written rather than jsonschema over ``openapi/inference-v2.yaml``: the schema cannot say
"the number of elements equals the product of the shape", "the model that answered is the one
we called" or "an FP64 tensor holds numbers", and those are the mistakes that would otherwise
end up in a patient's record. Every failure raises :class:`MLContractViolation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlclient.errors import MLContractViolation

FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64"})
UINT_TYPES = frozenset({"UINT8", "UINT16", "UINT32", "UINT64"})
DATATYPES = FLOAT_TYPES | INT_TYPES | UINT_TYPES | {"BOOL", "BYTES"}
MAX_DIMS = 8
MAX_TENSORS = 64
MAX_NAME = 128

Element = float | int | bool | str


def element_fits(datatype: str, value: object) -> bool:
    """Whether a JSON value is a valid element of ``datatype`` (JSON true is no number)."""
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype == "BYTES":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if datatype in FLOAT_TYPES:
        return isinstance(value, int | float) and math.isfinite(value)
    if datatype in INT_TYPES:
        return isinstance(value, int)
    return isinstance(value, int) and value >= 0


@dataclass(frozen=True, slots=True)
class Tensor:
    """A tensor with its elements flat in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: tuple[Element, ...]

    def __post_init__(self) -> None:
        problem = _tensor_problem(self.name, self.datatype, self.shape, self.data)
        if problem:
            raise ValueError(problem)

    @classmethod
    def from_rows(
        cls, name: str, rows: Sequence[Sequence[float]], datatype: str = "FP64"
    ) -> Tensor:
        """A ``[len(rows), width]`` tensor from equal-length rows (e.g. one row per sample)."""
        width = len(rows[0]) if rows else 0
        if any(len(row) != width for row in rows):
            raise ValueError("rows must all have the same length")
        data = tuple(float(v) for row in rows for v in row)
        return cls(name, datatype, (len(rows), width), data)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "datatype": self.datatype,
            "data": list(self.data),
        }


def _tensor_problem(
    name: object, datatype: object, shape: Sequence[object], data: Sequence[object]
) -> str | None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        return "tensor name must be a non-empty string"
    # isinstance first: a list or an object from the wire is unhashable (TypeError, a 500).
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        return f"tensor {name!r}: unknown datatype {datatype!r}"
    if len(shape) > MAX_DIMS or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return f"tensor {name!r}: shape must be non-negative integers"
    if math.prod(shape) != len(data):  # type: ignore[arg-type]
        return f"tensor {name!r}: shape {list(shape)} does not match {len(data)} elements"
    for index, value in enumerate(data):
        if not element_fits(str(datatype), value):
            return f"tensor {name!r}: element {index} is not {datatype}"
    return None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor's metadata; a dimension of -1 is variable."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What the protocol lets a server say of a model; all but the name may be empty (MLServer
    and KServe send ``platform: ""``, KServe ``versions: null``, neither Triton nor KServe any
    ``parameters``)."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)


@dataclass(frozen=True, slots=True)
class ReadyStatus:
    ready: bool
    latency_ms: float
    upstream_status: int


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """A prediction as the ML service made it, checked against the contract."""

    model_name: str
    # Optional in the protocol: MLServer omits it unless the model has a version, KServe
    # sends null.
    model_version: str | None
    request_id: str
    outputs: tuple[Tensor, ...]
    latency_ms: float
    upstream_status: int

    def output(self, name: str) -> Tensor:
        for tensor in self.outputs:
            if tensor.name == name:
                return tensor
        raise KeyError(name)


def _violation(message: str) -> MLContractViolation:
    return MLContractViolation(f"ML response violates the contract: {message}", upstream_status=200)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _violation(f"{what} is not an object")
    return value


def _string(body: Mapping[str, Any], key: str, what: str, limit: int = MAX_NAME) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _violation(f"{what}.{key} is not a non-empty string")
    return value


def _list(body: Mapping[str, Any], key: str, what: str, limit: int) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or len(value) > limit:
        raise _violation(f"{what}.{key} is not a list of at most {limit} items")
    return value


def _flatten(data: list[Any], shape: Sequence[int], name: str) -> list[Any]:
    """Row-major elements of flat or nested ``data`` whose nesting must follow ``shape``."""
    if not any(isinstance(item, list) for item in data):
        return data
    if not shape or len(data) != shape[0] or not all(isinstance(item, list) for item in data):
        raise _violation(f"output {name!r}: nested data does not follow shape {list(shape)}")
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item, shape[1:], name))
    return flat


def parse_output(value: object) -> Tensor:
    tensor = _object(value, "output")
    name = _string(tensor, "name", "output")
    shape = _list(tensor, "shape", f"output {name!r}", MAX_DIMS)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _violation(f"output {name!r}: shape must be non-negative integers")
    data = _flatten(_list(tensor, "data", f"output {name!r}", 10**7), shape, name)
    problem = _tensor_problem(name, tensor.get("datatype"), shape, data)
    if problem:
        raise _violation(problem)
    return Tensor(name, str(tensor["datatype"]), tuple(shape), tuple(data))


def _optional_string(body: Mapping[str, Any], key: str, what: str, limit: int) -> str | None:
    """An optional string field: absent, null and "" all mean "not said"."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _violation(f"{what}.{key} is not a string of at most {limit} characters")
    return value


def parse_infer_response(
    value: object, *, model: str, request_id: str, wanted: Sequence[str] | None
) -> tuple[str | None, tuple[Tensor, ...]]:
    """The model version (None when the server names none) and outputs of an inference reply
    for ``model`` and ``request_id``."""
    body = _object(value, "response")
    if body.get("model_name") != model:
        raise _violation(f"model_name is {body.get('model_name')!r}, expected {model!r}")
    version = _optional_string(body, "model_version", "response", 64)
    # The protocol makes the reply's id optional; one that is there must be ours.
    if body.get("id") not in (None, request_id):
        raise _violation("id does not echo the request id")
    raw_outputs = _list(body, "outputs", "response", MAX_TENSORS)
    if not raw_outputs:
        raise _violation("no outputs")
    outputs = tuple(parse_output(o) for o in raw_outputs)
    names = [t.name for t in outputs]
    if len(set(names)) != len(names):
        raise _violation("an output name appears twice")
    missing = [n for n in wanted or () if n not in names]
    if missing:
        raise _violation(f"requested output {missing[0]!r} is missing")
    return version, outputs


def _spec(value: object, what: str) -> TensorSpec:
    tensor = _object(value, what)
    name = _string(tensor, "name", what)
    shape = _list(tensor, "shape", f"{what} {name!r}", MAX_DIMS)
    datatype = tensor.get("datatype")
    if (
        not isinstance(datatype, str)
        or datatype not in DATATYPES
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape)
    ):
        raise _violation(f"{what} {name!r}: bad datatype or shape")
    return TensorSpec(name, str(tensor["datatype"]), tuple(shape))


def _optional_list(body: Mapping[str, Any], key: str, what: str, limit: int) -> list[Any]:
    """An optional list field: absent and null mean empty."""
    if body.get(key) is None:
        return []
    return _list(body, key, what, limit)


def parse_metadata(value: object, *, model: str) -> ModelMetadata:
    """Model metadata, as loosely as the protocol allows: only the name must be there (and be
    the model asked for); the tensors, when declared, must be well formed since the backend
    builds its request from them."""
    body = _object(value, "metadata")
    if body.get("name") != model:
        raise _violation(f"metadata name is {body.get('name')!r}, expected {model!r}")
    versions = _optional_list(body, "versions", "metadata", 1000)
    if not all(isinstance(v, str) for v in versions):
        raise _violation("metadata.versions is not a list of strings")
    parameters = body.get("parameters")
    return ModelMetadata(
        name=model,
        versions=tuple(versions),
        platform=_optional_string(body, "platform", "metadata", MAX_NAME) or "",
        inputs=tuple(
            _spec(t, "input") for t in _optional_list(body, "inputs", "metadata", MAX_TENSORS)
        ),
        outputs=tuple(
            _spec(t, "output") for t in _optional_list(body, "outputs", "metadata", MAX_TENSORS)
        ),
        # Not used by the backend: kept when it is an object, ignored otherwise.
        parameters=dict(parameters) if isinstance(parameters, dict) else {},
    )


def error_message(value: object, limit: int = 300) -> str:
    """The protocol's ``{"error": "..."}`` message, shortened; "" when the body has none."""
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        message: str = value["error"]
        return message if len(message) <= limit else message[: limit - 1] + "\u2026"
    return ""
