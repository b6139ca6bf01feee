"""Run inside a model server's own virtualenv: the reference model as a plain scikit-learn
pipeline saved with joblib, and scikit-learn's own answers for the reference cases.

    python build_model.py PARAMS_JSON OUT_DIR

writes ``OUT_DIR/model.joblib`` and ``OUT_DIR/expected.json``. The fitted numbers are those of
``modelserver/models/breast-cancer.json``, so every server in the tests serves the same model
(and the expected answers come from the scikit-learn that the server itself runs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib  # type: ignore[import-not-found,import-untyped,unused-ignore]
import numpy as np  # type: ignore[import-not-found,unused-ignore]
from sklearn.linear_model import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
    LogisticRegression,
)
from sklearn.pipeline import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
    make_pipeline,
)
from sklearn.preprocessing import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
    StandardScaler,
)


def main() -> None:
    params = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    width = len(params["feature_names"])
    scaler = StandardScaler()
    scaler.mean_ = np.array(params["means"])
    scaler.scale_ = np.array(params["scales"])
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = width
    scaler.n_samples_seen_ = params["training"]["train_samples"]
    classifier = LogisticRegression()
    # load_breast_cancer's targets: 0 malignant, 1 benign; the coefficients score class 1.
    classifier.classes_ = np.array([0, 1])
    classifier.coef_ = np.array([params["coefficients"]])
    classifier.intercept_ = np.array([params["intercept"]])
    classifier.n_features_in_ = width
    classifier.n_iter_ = np.array([1])
    pipeline = make_pipeline(scaler, classifier)
    joblib.dump(pipeline, out / "model.joblib")
    cases = np.array([case["features"] for case in params["reference_cases"]])
    expected = {
        "predict_proba": pipeline.predict_proba(cases).tolist(),
        "predict": pipeline.predict(cases).tolist(),
    }
    (out / "expected.json").write_text(json.dumps(expected))


if __name__ == "__main__":
    main()
