"""The models file: what it refuses (naming model and field), how a configuration is resolved
against what a server declares, and how each server's answer is read."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mlclient.contract import InferenceResult, ModelMetadata, Tensor, TensorSpec, parse_metadata
from mlclient.errors import MLConfigMismatch, MLContractViolation
from mlclient.models import ModelConfigError, load_models, parse_model, plan
from service.settings import DEFAULT_ML_MODELS_FILE, ConfigError, Settings

PROBA = {"output": "predict_proba", "classes": ["malignant", "benign"], "positive": "malignant"}


def entry(**fields: Any) -> dict[str, Any]:
    return {"features": ["a", "b"], "probability": PROBA, **fields}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"features": []}, "features"),
        ({"features": ["a", "a"]}, "features"),
        ({"features": "columns"}, "features"),
        ({"datatype": "INT64"}, "datatype"),
        ({"version": "../1"}, "version"),
        ({"server_name": "a/b"}, "server_name"),
        ({"request_outputs": "no"}, "request_outputs"),
        ({"probability": {"classes": ["x", "y"], "positive": "x"}}, "probability.output"),
        ({"probability": {**PROBA, "positive": "other"}}, "probability.positive"),
        ({"probability": {**PROBA, "classes": ["only"]}}, "probability.classes"),
        ({"probability": {"output": "p"}}, "label"),
        ({"label": {"output": "predict", "labels": {"0": 1}}}, "label.labels"),
        ({"lable": {"output": "predict"}}, "lable"),
    ],
)
def test_a_mistake_is_refused_naming_the_model_and_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ModelConfigError) as caught:
        parse_model("breast-cancer", entry(**fields))
    assert (caught.value.model, caught.value.field) == ("breast-cancer", field)
    assert str(caught.value).startswith(f"model 'breast-cancer': field {field!r}: ")


def test_a_bad_models_file_stops_the_start_naming_its_variable(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.breast-cancer]\nfeatures = ["a"]\n')
    with pytest.raises(ConfigError, match=r"MEDAI_ML_MODELS_FILE .*'breast-cancer'.*probability"):
        Settings.from_env({"MEDAI_ML_MODELS_FILE": str(path)})
    with pytest.raises(ConfigError, match="MEDAI_ML_MODELS: model 'other' is not in"):
        Settings.from_env({"MEDAI_ML_MODELS": "other"})


def test_the_default_file_describes_the_reference_model_without_extra_fields() -> None:
    specs = load_models(DEFAULT_ML_MODELS_FILE)
    spec = specs["breast-cancer"]
    assert spec.features is not None
    assert spec.features[0] == "mean_radius"
    assert (spec.probability.output, spec.label and spec.label.output) == ("probability", "label")
    assert tomllib.loads(DEFAULT_ML_MODELS_FILE.read_text())["models"].keys() == {"breast-cancer"}


def metadata(inputs: list[TensorSpec], outputs: list[TensorSpec] | None = None) -> ModelMetadata:
    return ModelMetadata("m", (), "", tuple(inputs), tuple(outputs or ()))


def test_the_datatype_and_shape_come_from_the_metadata() -> None:
    spec = parse_model("m", entry())
    how = plan(spec, metadata([TensorSpec("x", "FP32", (-1, 2))]))
    [tensor] = how.tensors([1.5, 2.5])
    assert (tensor.name, tensor.datatype, tensor.shape, tensor.data) == (
        "x",
        "FP32",
        (1, 2),
        (1.5, 2.5),
    )
    assert how.outputs == ("predict_proba",)


def test_one_named_input_per_feature_when_the_metadata_declares_them() -> None:
    spec = parse_model("m", entry(features="inputs"))
    how = plan(spec, metadata([TensorSpec("b", "FP64", (-1, 1)), TensorSpec("a", "FP32", (-1,))]))
    assert how.features == ("b", "a")
    tensors = how.tensors([2.0, 1.0])
    assert [(t.name, t.datatype, t.shape, t.data) for t in tensors] == [
        ("b", "FP64", (1, 1), (2.0,)),
        ("a", "FP32", (1,), (1.0,)),
    ]


@pytest.mark.parametrize(
    ("fields", "inputs", "outputs", "field"),
    [
        ({"input": "x"}, [TensorSpec("y", "FP64", (-1, 2))], None, "'input'"),
        ({}, [TensorSpec("x", "FP64", (-1, 3))], None, "'features'"),
        ({}, [TensorSpec("x", "INT64", (-1, 2))], None, "'datatype'"),
        ({"datatype": "FP64"}, [TensorSpec("x", "FP32", (-1, 2))], None, "'datatype'"),
        ({}, [], None, "'input'"),
        (
            {},
            [TensorSpec("x", "FP64", (-1, 2))],
            [TensorSpec("probability", "FP64", (-1,))],
            "'outputs'",
        ),
    ],
)
def test_a_configuration_that_does_not_fit_the_metadata_is_a_mismatch(
    fields: dict[str, Any],
    inputs: list[TensorSpec],
    outputs: list[TensorSpec] | None,
    field: str,
) -> None:
    with pytest.raises(MLConfigMismatch, match=f"model 'm': field {field}"):
        plan(parse_model("m", entry(**fields)), metadata(inputs, outputs))


def result(*outputs: Tensor, version: str | None = None) -> InferenceResult:
    return InferenceResult("m", version, "r", outputs, 1.0, 200)


def test_mlservers_predict_proba_and_predict_with_a_label_table() -> None:
    spec = parse_model(
        "m", entry(label={"output": "predict", "labels": {"0": "malignant", "1": "benign"}})
    )
    how = plan(spec, metadata([TensorSpec("x", "FP64", (-1, 2))]))
    answer = how.answer(
        result(
            Tensor("predict_proba", "FP64", (1, 2), (0.75, 0.25)),
            Tensor("predict", "INT64", (1, 1), (0,)),
        )
    )
    assert answer == (0.75, "malignant")


def test_without_a_label_output_the_label_is_the_most_probable_class() -> None:
    how = plan(parse_model("m", entry(input="input-0")), metadata([]))
    assert how.answer(result(Tensor("predict_proba", "FP32", (1, 2), (0.25, 0.75)))) == (
        0.25,
        "benign",
    )


@pytest.mark.parametrize(
    "tensors",
    [
        (),
        (Tensor("predict_proba", "FP64", (1, 3), (0.2, 0.3, 0.5)),),
        (Tensor("predict_proba", "FP64", (2, 2), (0.2, 0.8, 0.5, 0.5)),),
        (Tensor("predict_proba", "FP64", (1, 2), (1.5, -0.5)),),
        (Tensor("predict_proba", "BYTES", (1, 2), ("a", "b")),),
    ],
)
def test_any_other_answer_breaks_the_contract(tensors: tuple[Tensor, ...]) -> None:
    how = plan(parse_model("m", entry(input="input-0")), metadata([]))
    with pytest.raises(MLContractViolation):
        how.answer(result(*tensors))


def test_a_label_code_outside_the_table_breaks_the_contract() -> None:
    spec = parse_model("m", entry(input="i", label={"output": "predict", "labels": {"0": "x"}}))
    how = plan(spec, metadata([]))
    with pytest.raises(MLContractViolation, match=r"not in label\.labels"):
        how.answer(
            result(
                Tensor("predict_proba", "FP64", (1, 2), (0.5, 0.5)),
                Tensor("predict", "INT64", (1,), (7,)),
            )
        )


@pytest.mark.parametrize(
    "body",
    [
        # MLServer 1.7.1, minimal model-settings.json.
        {
            "name": "m",
            "versions": [],
            "platform": "",
            "inputs": [],
            "outputs": [],
            "parameters": {},
        },
        # KServe 0.21.0.
        {"name": "m", "versions": None, "platform": "", "inputs": [], "outputs": []},
        # Only the name.
        {"name": "m"},
    ],
)
def test_metadata_is_read_as_loosely_as_the_protocol_allows(body: dict[str, Any]) -> None:
    parsed = parse_metadata(body, model="m")
    assert (parsed.versions, parsed.platform, parsed.inputs) == ((), "", ())
