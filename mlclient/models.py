"""How the backend calls each model: one validated entry per model, read from a TOML file.

No Open Inference Protocol server says in which order a model wants its features, or which of
its outputs is "the probability of malignancy": MLServer's scikit-learn runtime answers
``predict`` / ``predict_proba``, KServe ``output-0``, Triton whatever the model's config names.
So that knowledge is configuration, checked at start-up (every mistake names the model and the
field), then checked against the model's metadata before the first call (:func:`plan`)::

    [models.breast-cancer]
    server_name = "breast-cancer"        # the name on the ML server (default: the table's name)
    version = "1"                        # optional: call /v2/models/{name}/versions/{version}
    version_in_path = true               # false: only record it (KServe 0.21 answers 501)
    features = ["mean_radius", ...]      # the column order; or "inputs": one input per feature
    input = "predict"                    # optional: the input tensor (default: the only one)
    datatype = "FP64"                    # optional: default the metadata's, else FP64
    request_outputs = true               # false: ask for no output by name (KServe refuses it)

    [models.breast-cancer.probability]
    output = "predict_proba"             # the output tensor holding it
    classes = ["malignant", "benign"]    # its columns, in order ([] : it is the probability)
    positive = "malignant"               # the class the API's probability is of

    [models.breast-cancer.label]         # optional: default, the most probable class
    output = "predict"
    labels = { "0" = "malignant", "1" = "benign" }   # optional: class codes to labels
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlclient.config import MODEL_NAME
from mlclient.contract import FLOAT_TYPES, InferenceResult, ModelMetadata, Tensor, TensorSpec
from mlclient.errors import MLConfigMismatch, MLContractViolation

FEATURES_FROM_INPUTS = "inputs"
MAX_FEATURES = 4096
MAX_LABEL = 100
_MODEL_KEYS = frozenset(
    {
        "server_name",
        "version",
        "version_in_path",
        "features",
        "input",
        "datatype",
        "request_outputs",
        "probability",
        "label",
    }
)


class ModelConfigError(ValueError):
    """A model's configuration is wrong; the message names the model and the field."""

    def __init__(self, model: str, field_name: str, problem: str) -> None:
        super().__init__(f"model {model!r}: field {field_name!r}: {problem}")
        self.model = model
        self.field = field_name


@dataclass(frozen=True, slots=True)
class ProbabilityOutput:
    output: str
    # The columns of the output tensor, in order; empty when the tensor is the probability.
    classes: tuple[str, ...] = ()
    positive: str | None = None


@dataclass(frozen=True, slots=True)
class LabelOutput:
    output: str
    # Class codes as the model answers them (as text: 0 → "0") to the API's labels; empty when
    # the tensor holds the label itself.
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model: its name in the API, and how to call it and read its answer."""

    name: str
    server_name: str
    probability: ProbabilityOutput
    features: tuple[str, ...] | None = None  # None: one named input per feature
    version: str | None = None
    input: str | None = None
    datatype: str | None = None
    label: LabelOutput | None = None
    request_outputs: bool = True
    # False: the version is recorded when the server names none, but not put in the URL.
    version_in_path: bool = True

    @property
    def path_version(self) -> str | None:
        """The version to put in the URL, if any."""
        return self.version if self.version_in_path else None

    @property
    def outputs(self) -> tuple[str, ...]:
        names = [self.probability.output]
        if self.label is not None and self.label.output not in names:
            names.append(self.label.output)
        return tuple(names)


def load_models(path: Path) -> dict[str, ModelSpec]:
    """Every model of a TOML file (``[models.<name>]`` tables), checked."""
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    return parse_models(document)


def parse_models(document: Mapping[str, Any]) -> dict[str, ModelSpec]:
    unknown = sorted(set(document) - {"models"})
    if unknown:
        raise ValueError(f"unknown top-level key {unknown[0]!r} (only [models.<name>] tables)")
    models = document.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError("no [models.<name>] table")
    return {name: parse_model(name, entry) for name, entry in models.items()}


def parse_model(name: str, entry: object) -> ModelSpec:
    if not MODEL_NAME.fullmatch(name) or ".." in name:
        raise ModelConfigError(name, "name", "must be 1-64 of [A-Za-z0-9_.-], no '..'")
    if not isinstance(entry, dict):
        raise ModelConfigError(name, name, "must be a table")
    unknown = sorted(set(entry) - _MODEL_KEYS)
    if unknown:
        raise ModelConfigError(name, unknown[0], "unknown field")
    server_name = _name(name, entry, "server_name") or name
    features = _features(name, entry.get("features"))
    datatype = entry.get("datatype")
    if datatype is not None and datatype not in FLOAT_TYPES:
        raise ModelConfigError(name, "datatype", f"must be one of {sorted(FLOAT_TYPES)}")
    request_outputs = entry.get("request_outputs", True)
    if not isinstance(request_outputs, bool):
        raise ModelConfigError(name, "request_outputs", "must be true or false")
    version_in_path = entry.get("version_in_path", True)
    if not isinstance(version_in_path, bool):
        raise ModelConfigError(name, "version_in_path", "must be true or false")
    probability = _probability(name, entry.get("probability"))
    label = _label(name, entry.get("label"))
    if label is None and not probability.classes:
        raise ModelConfigError(
            name, "label", "is required when probability.classes does not name the classes"
        )
    return ModelSpec(
        name=name,
        server_name=server_name,
        version=_name(name, entry, "version"),
        features=features,
        input=_text(name, entry, "input"),
        datatype=datatype,
        probability=probability,
        label=label,
        request_outputs=request_outputs,
        version_in_path=version_in_path,
    )


def _text(model: str, table: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise ModelConfigError(model, where + key, "must be a string of 1-128 characters")
    return value


def _name(model: str, table: Mapping[str, Any], key: str) -> str | None:
    value = _text(model, table, key)
    if value is not None and (not MODEL_NAME.fullmatch(value) or ".." in value):
        raise ModelConfigError(model, key, "must be 1-64 of [A-Za-z0-9_.-], no '..'")
    return value


def _features(model: str, value: object) -> tuple[str, ...] | None:
    if value == FEATURES_FROM_INPUTS:
        return None
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= MAX_FEATURES
        or not all(isinstance(v, str) and 0 < len(v) <= 128 for v in value)
    ):
        raise ModelConfigError(
            model, "features", 'must be a list of feature names in column order, or "inputs"'
        )
    if len(set(value)) != len(value):
        raise ModelConfigError(model, "features", "names a feature twice")
    return tuple(value)


def _table(model: str, value: object, key: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ModelConfigError(model, key, "must be a table")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ModelConfigError(model, f"{key}.{unknown[0]}", "unknown field")
    return value


def _probability(model: str, value: object) -> ProbabilityOutput:
    table = _table(model, value, "probability", frozenset({"output", "classes", "positive"}))
    output = _text(model, table, "output", "probability.")
    if output is None:
        raise ModelConfigError(model, "probability.output", "is required")
    classes = table.get("classes", [])
    if not isinstance(classes, list) or not all(
        isinstance(c, str) and 0 < len(c) <= MAX_LABEL for c in classes
    ):
        raise ModelConfigError(model, "probability.classes", "must be a list of class labels")
    if len(set(classes)) != len(classes) or len(classes) == 1:
        raise ModelConfigError(model, "probability.classes", "must name two or more classes once")
    positive = _text(model, table, "positive", "probability.")
    if classes and positive not in classes:
        raise ModelConfigError(model, "probability.positive", f"must be one of {classes}")
    return ProbabilityOutput(output, tuple(classes), positive)


def _label(model: str, value: object) -> LabelOutput | None:
    if value is None:
        return None
    table = _table(model, value, "label", frozenset({"output", "labels"}))
    output = _text(model, table, "output", "label.")
    if output is None:
        raise ModelConfigError(model, "label.output", "is required")
    labels = table.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(v, str) and 0 < len(v) <= MAX_LABEL for v in labels.values()
    ):
        raise ModelConfigError(model, "label.labels", "must map class codes to label strings")
    return LabelOutput(output, dict(labels))


# --- From configuration and metadata to a request, and from a reply to an answer -------------


@dataclass(frozen=True, slots=True)
class _Input:
    name: str
    datatype: str
    shape: tuple[int, ...]
    # The slice of the feature row this tensor carries.
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A model's configuration resolved against its metadata: ready to build requests."""

    spec: ModelSpec
    features: tuple[str, ...]
    inputs: tuple[_Input, ...]
    # The outputs to ask for by name; None: ask for none (the server's default outputs).
    outputs: tuple[str, ...] | None

    def tensors(self, row: Sequence[float]) -> list[Tensor]:
        return [
            Tensor(i.name, i.datatype, i.shape, tuple(float(v) for v in row[i.start : i.stop]))
            for i in self.inputs
        ]

    def answer(self, result: InferenceResult) -> tuple[float, str]:
        """The probability and label of a one-row reply; anything else is a 502."""
        spec = self.spec
        values = _values(result, spec.probability.output)
        classes = spec.probability.classes
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            raise _violation(f"output {spec.probability.output!r} is not numbers")
        if len(values) != max(1, len(classes)):
            raise _violation(
                f"output {spec.probability.output!r} has {len(values)} values for one case, "
                f"expected {max(1, len(classes))}"
            )
        index = classes.index(spec.probability.positive) if classes else 0
        probability = float(values[index])
        if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
            raise _violation(f"output {spec.probability.output!r} is not a probability")
        if spec.label is None:
            best = max(range(len(values)), key=lambda i: float(values[i]))
            return probability, classes[best]
        return probability, _label_of(result, spec.label)


def _violation(message: str) -> MLContractViolation:
    return MLContractViolation(f"ML response violates the contract: {message}", upstream_status=200)


def _values(result: InferenceResult, name: str) -> tuple[Any, ...]:
    try:
        tensor = result.output(name)
    except KeyError:
        raise _violation(f"output {name!r} is missing") from None
    if not tensor.shape or tensor.shape[0] != 1:
        raise _violation(f"output {name!r} is not one row (shape {list(tensor.shape)})")
    return tensor.data


def _label_of(result: InferenceResult, spec: LabelOutput) -> str:
    values = _values(result, spec.output)
    if len(values) != 1:
        raise _violation(f"output {spec.output!r} is not one value")
    value = values[0]
    if spec.labels:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        code = value if isinstance(value, str) else str(value)
        if isinstance(value, bool) or code not in spec.labels:
            raise _violation(f"output {spec.output!r} answered a class not in label.labels")
        return spec.labels[code]
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LABEL:
        raise _violation(f"output {spec.output!r} is not a short string")
    return value


def plan(spec: ModelSpec, metadata: ModelMetadata) -> Plan:
    """How to call the model, or :class:`MLConfigMismatch` naming the field that does not fit
    what the server declares. Declared inputs and outputs are checked; undeclared ones are
    trusted to the configuration (KServe declares none for a plain model)."""
    if spec.features is None:
        features, inputs = _per_feature_inputs(spec, metadata)
    else:
        features, inputs = spec.features, (_single_input(spec, metadata, spec.features),)
    outputs: tuple[str, ...] | None = None
    if spec.request_outputs:
        outputs = spec.outputs
        declared = [t.name for t in metadata.outputs]
        for name in outputs:
            if declared and name not in declared:
                raise _mismatch(spec, "outputs", f"{name!r} is not among {declared}")
    return Plan(spec, features, inputs, outputs)


def _mismatch(spec: ModelSpec, field_name: str, problem: str) -> MLConfigMismatch:
    return MLConfigMismatch(
        f"model {spec.name!r}: field {field_name!r} does not fit the server's metadata: {problem}"
    )


def _datatype(spec: ModelSpec, declared: TensorSpec | None) -> str:
    datatype = declared.datatype if declared is not None else (spec.datatype or "FP64")
    if spec.datatype is not None and datatype != spec.datatype:
        raise _mismatch(spec, "datatype", f"the server declares {datatype}")
    if datatype not in FLOAT_TYPES:
        raise _mismatch(spec, "datatype", f"input datatype {datatype} is not a float type")
    return datatype


def _single_input(spec: ModelSpec, metadata: ModelMetadata, features: Sequence[str]) -> _Input:
    declared_names = [t.name for t in metadata.inputs]
    if spec.input is not None:
        declared = metadata.input(spec.input)
        if declared_names and declared is None:
            raise _mismatch(spec, "input", f"{spec.input!r} is not among {declared_names}")
        name = spec.input
    elif len(metadata.inputs) == 1:
        declared, name = metadata.inputs[0], metadata.inputs[0].name
    else:
        raise _mismatch(
            spec, "input", f"the server declares inputs {declared_names}: name the one to use"
        )
    shape = _shape(spec, declared, len(features))
    return _Input(name, _datatype(spec, declared), shape, 0, len(features))


def _shape(spec: ModelSpec, declared: TensorSpec | None, width: int) -> tuple[int, ...]:
    """One case's shape: the declared one with the batch dimension 1 (and one variable
    dimension, if any, the width), else ``[1, width]``."""
    if declared is None or not declared.shape:
        return (1, width) if width != 1 else (1,)
    shape = [1 if i == 0 and d == -1 else d for i, d in enumerate(declared.shape)]
    known = math.prod(d for d in shape if d != -1)
    if shape.count(-1) == 1 and known and width % known == 0:
        shape[shape.index(-1)] = width // known
    if -1 in shape or math.prod(shape) != width:
        raise _mismatch(
            spec,
            "features",
            f"input {declared.name!r} of shape {list(declared.shape)} cannot carry one case "
            f"of {width} feature(s)",
        )
    return tuple(shape)


def _per_feature_inputs(
    spec: ModelSpec, metadata: ModelMetadata
) -> tuple[tuple[str, ...], tuple[_Input, ...]]:
    if not metadata.inputs:
        raise _mismatch(spec, "features", '"inputs" but the server declares no inputs')
    inputs = tuple(
        _Input(t.name, _datatype(spec, t), _shape(spec, t, 1), i, i + 1)
        for i, t in enumerate(metadata.inputs)
    )
    return tuple(t.name for t in metadata.inputs), inputs
