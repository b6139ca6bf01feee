"""A reply whose datatype is not even a string is a contract violation (502), not a crash."""

from __future__ import annotations

import pytest

from mlclient import MLContractViolation
from mlclient.contract import parse_metadata, parse_output


@pytest.mark.parametrize("datatype", [[], {}, None, 7])
def test_an_output_datatype_of_the_wrong_type_is_a_violation(datatype: object) -> None:
    with pytest.raises(MLContractViolation):
        parse_output({"name": "probability", "datatype": datatype, "shape": [1], "data": [0.5]})


@pytest.mark.parametrize("datatype", [[], {}])
def test_a_metadata_datatype_of_the_wrong_type_is_a_violation(datatype: object) -> None:
    spec = {"name": "x", "datatype": datatype, "shape": [1]}
    reply = {"name": "m", "versions": ["1"], "platform": "p", "inputs": [spec], "outputs": [spec]}
    with pytest.raises(MLContractViolation):
        parse_metadata(reply, model="m")
