"""Train the reference model and write its fitted parameters as JSON.

    uv run --group train python -m modelserver.train

Logistic regression on standardised features of the Wisconsin diagnostic breast-cancer data set
bundled with scikit-learn (569 fine-needle aspirates, 30 features, malignant/benign). Only the
fitted numbers are written, so serving needs neither numpy nor scikit-learn; the file is committed
and this script exists to reproduce it (same seed, same split, same numbers).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path
from typing import Any

MODEL_NAME = "breast-cancer"
MODEL_VERSION = "1"
RANDOM_STATE = 42
TEST_SIZE = 0.25
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "models" / f"{MODEL_NAME}.json"


def tensor_name(feature: str) -> str:
    """``"mean concave points"`` → ``"mean_concave_points"``: a name valid as a tensor name."""
    return re.sub(r"[^a-z0-9]+", "_", feature.lower()).strip("_")


def train() -> dict[str, Any]:
    # Imported here: the serving side imports this package and must not need scikit-learn.
    import sklearn  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from sklearn.datasets import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        load_breast_cancer,
    )
    from sklearn.linear_model import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        LogisticRegression,
    )
    from sklearn.metrics import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        accuracy_score,
        roc_auc_score,
    )
    from sklearn.model_selection import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        train_test_split,
    )
    from sklearn.preprocessing import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        StandardScaler,
    )

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=data.target
    )
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=5000).fit(scaler.transform(x_train), y_train)

    classes = [str(data.target_names[c]) for c in model.classes_]
    # scikit-learn's decision function scores classes_[1] ("benign"); clinicians want the
    # probability of the finding that matters, so serving reports P(malignant) = 1 - P(benign).
    assert classes == ["malignant", "benign"], classes
    scaled_test = scaler.transform(x_test)
    p_malignant = model.predict_proba(scaled_test)[:, 0]
    references = [
        {
            "features": [float(v) for v in x_test[i]],
            "probability": float(p_malignant[i]),
            "label": classes[int(model.predict(scaled_test[i : i + 1])[0])],
            "dataset_label": classes[int(y_test[i])],
        }
        for i in range(4)
    ]
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "platform": "medai-logreg-json",
        "description": "Logistic regression on standardised features; "
        "outputs P(malignant) and the label at the threshold.",
        "feature_names": [tensor_name(f) for f in data.feature_names],
        "dataset_feature_names": [str(f) for f in data.feature_names],
        "means": [float(v) for v in scaler.mean_],
        "scales": [float(v) for v in scaler.scale_],
        "coefficients": [float(v) for v in model.coef_[0]],
        "intercept": float(model.intercept_[0]),
        "decision_class": classes[1],
        "output_class": classes[0],
        "classes": classes,
        "threshold": 0.5,
        "training": {
            "dataset": "Breast Cancer Wisconsin (Diagnostic), sklearn.datasets.load_breast_cancer",
            "samples": len(data.target),
            "train_samples": len(y_train),
            "test_samples": len(y_test),
            "split": f"stratified, test_size={TEST_SIZE}, random_state={RANDOM_STATE}",
            "estimator": "StandardScaler + LogisticRegression(max_iter=5000)",
            "test_accuracy": float(accuracy_score(y_test, model.predict(scaled_test))),
            "test_roc_auc": float(roc_auc_score(y_test == 0, p_malignant)),
            "sklearn_version": sklearn.__version__,
            "python_version": platform.python_version(),
        },
        "reference_cases": references,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    params = train()
    args.output.write_text(json.dumps(params, indent=2) + "\n")
    training = params["training"]
    print(
        f"wrote {args.output}: test accuracy {training['test_accuracy']:.4f}, "
        f"ROC AUC {training['test_roc_auc']:.4f}"
    )


if __name__ == "__main__":
    main()
