"""Run inside KServe's virtualenv: KServe's own ModelServer serving a joblib scikit-learn model
as KServe's sklearn server does with ``PREDICT_PROBA=true`` (its predict is
``get_predict_input`` → ``predict_proba`` → ``get_predict_response``: one output ``output-0``
of shape [n, 2], no model version). The sklearn server itself is not on PyPI; these lines are
its whole serving path, with KServe's helpers.

    python kserve_sklearn.py NAME MODEL_PATH PORT
"""

from __future__ import annotations

import sys
from typing import Any

import joblib  # type: ignore[import-not-found,import-untyped,unused-ignore]
import kserve  # type: ignore[import-not-found,unused-ignore]
from kserve.protocol.rest import (  # type: ignore[import-not-found,unused-ignore]
    server as rest_server,
)
from kserve.utils.utils import (  # type: ignore[import-not-found,unused-ignore]
    get_predict_input,
    get_predict_response,
)


class SKLearnModel(kserve.Model):  # type: ignore[misc,unused-ignore]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.model: Any = None

    def load(self) -> bool:
        self.model = joblib.load(self.path)
        self.ready = True
        return True

    def predict(self, payload: Any, headers: Any = None) -> Any:
        result = self.model.predict_proba(get_predict_input(payload))
        return get_predict_response(payload, result, self.name)


def main() -> None:
    name, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # KServe 0.21's REST server binds 0.0.0.0 whatever it is told; tests listen on loopback.
    config = rest_server.uvicorn.Config
    rest_server.uvicorn.Config = lambda *a, **k: config(*a, **{**k, "host": "127.0.0.1"})
    model = SKLearnModel(name, path)
    model.load()
    kserve.ModelServer(http_port=port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
