"""The served model: a logistic regression evaluated from its fitted parameters in pure Python.

The parameters come from ``models/<name>.json`` written by :mod:`modelserver.train`; serving
needs neither numpy nor scikit-learn, so the server starts in milliseconds and its image stays
small. Batches are at most a few thousand numbers, where numpy would buy nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class Prediction:
    probability: float
    label: str


def _sigmoid(t: float) -> float:
    # Two branches so that exp() never overflows, whatever the sign of t.
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@dataclass(frozen=True)
class LogisticModel:
    """``P(output_class) = sigmoid(-(intercept + coefficients · (x - means) / scales))``.

    scikit-learn scores ``decision_class`` (the second class); the model reports the
    probability of ``output_class``, the other one, hence the minus sign.
    """

    name: str
    version: str
    platform: str
    feature_names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    output_class: str
    decision_class: str
    threshold: float
    training: Mapping[str, Any]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LogisticModel:
        features = tuple(str(f) for f in params["feature_names"])
        vectors = {
            k: tuple(float(v) for v in params[k]) for k in ("means", "scales", "coefficients")
        }
        if len(set(features)) != len(features) or any(
            len(v) != len(features) for v in vectors.values()
        ):
            raise ValueError(f"model {params.get('name')!r}: inconsistent parameter lengths")
        if any(s <= 0 for s in vectors["scales"]):
            raise ValueError(f"model {params.get('name')!r}: scales must be positive")
        return cls(
            name=str(params["name"]),
            version=str(params["version"]),
            platform=str(params["platform"]),
            feature_names=features,
            means=vectors["means"],
            scales=vectors["scales"],
            coefficients=vectors["coefficients"],
            intercept=float(params["intercept"]),
            output_class=str(params["output_class"]),
            decision_class=str(params["decision_class"]),
            threshold=float(params["threshold"]),
            training=dict(params.get("training", {})),
        )

    @classmethod
    def from_file(cls, path: Path) -> LogisticModel:
        return cls.from_params(json.loads(path.read_text()))

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def predict_one(self, row: Sequence[float]) -> Prediction:
        # fsum: exact summation, so the result does not depend on the order of the terms.
        z = math.fsum(
            c * (x - m) / s
            for c, x, m, s in zip(self.coefficients, row, self.means, self.scales, strict=True)
        )
        probability = _sigmoid(-(z + self.intercept))
        label = self.output_class if probability >= self.threshold else self.decision_class
        return Prediction(probability, label)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Prediction]:
        return [self.predict_one(row) for row in rows]


def load_models(directory: Path = MODELS_DIR) -> dict[str, LogisticModel]:
    """Every ``*.json`` model in ``directory``, by name."""
    models = {}
    for path in sorted(directory.glob("*.json")):
        model = LogisticModel.from_file(path)
        if model.name in models:
            raise ValueError(f"two model files define {model.name!r}")
        models[model.name] = model
    return models
