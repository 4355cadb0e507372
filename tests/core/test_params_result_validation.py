import json

import numpy as np
import pytest

from interlingua.core import (
    Configurable,
    InputError,
    MetricResult,
    Param,
    check_matrix,
    check_paired,
    check_vector,
)


class Thing(Configurable):
    """A configurable thing."""

    params = (
        Param("k", 10, "neighbours", int),
        Param("method", "cosine", "similarity", str, ("cosine", "csls")),
        Param("theta", 0.8, "threshold", float),
        Param("flag", False, "switch", bool),
        Param("extra", None, "free JSON value"),
    )


def test_params_stored_without_work_and_round_trip():
    thing = Thing(k=3, theta=1)
    assert thing.get_params() == {"k": 3, "method": "cosine", "theta": 1.0, "flag": False,
                                  "extra": None}
    assert isinstance(thing.theta, float)
    assert Thing(**thing.get_params()).get_params() == thing.get_params()
    assert repr(thing) == "Thing(k=3, theta=1.0)"
    assert thing.set_params(method="csls") is thing and thing.method == "csls"
    assert Thing.describe() == "A configurable thing."


def test_param_errors():
    with pytest.raises(InputError, match="unknown parameter 'methd'; did you mean 'method'"):
        Thing(methd="x")
    with pytest.raises(InputError, match="'dot' is not one of 'cosine', 'csls'"):
        Thing(method="dot")
    with pytest.raises(InputError, match="expected int"):
        Thing(k="3")
    with pytest.raises(InputError, match="has no parameter"):
        Thing().set_params(nope=1)


@pytest.mark.parametrize("name, text, value", [
    ("k", "5", 5), ("theta", "0.25", 0.25), ("flag", "yes", True), ("flag", "0", False),
    ("method", "csls", "csls"), ("extra", "[1, 2]", [1, 2]), ("extra", "none", None),
    ("extra", "plain text", "plain text"),
])
def test_param_parse(name, text, value):
    assert Thing.param_spec(name).parse(text) == value


def test_param_parse_errors():
    with pytest.raises(InputError, match="expected int"):
        Thing.param_spec("k").parse("five")
    with pytest.raises(InputError, match="true/false"):
        Thing.param_spec("flag").parse("maybe")


def test_metric_result_to_dict_is_json_safe():
    result = MetricResult(np.float32(0.5), per_unit=np.array([1.0, np.nan]), pvalue=0.01,
                          ci=(np.float64(0.1), 0.9),
                          details={"n": np.int64(3), "set": {2, 1}, "inf": float("inf"),
                                   "nested": {"a": (1, 2)}})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["value"] == 0.5 and data["per_unit"] == [1.0, None]
    assert data["ci"] == [0.1, 0.9]
    assert data["details"] == {"n": 3, "set": [1, 2], "inf": None, "nested": {"a": [1, 2]}}
    assert float(result) == 0.5


def test_check_matrix():
    assert check_matrix([[1, 2], [3, 4]]).dtype == np.float64
    with pytest.raises(InputError, match="2-D"):
        check_matrix([1, 2, 3])
    with pytest.raises(InputError, match="at least 3 rows"):
        check_matrix(np.zeros((2, 2)), min_rows=3)
    with pytest.raises(InputError, match=r"NaN or infinite values in 2 row\(s\) \(0, 2\)"):
        check_matrix([[np.nan, 1], [1, 1], [1, np.inf]])
    with pytest.raises(InputError, match="numeric matrix"):
        check_matrix([["a", "b"]])


def test_check_paired_and_vector():
    with pytest.raises(InputError, match="same number of rows"):
        check_paired(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(InputError, match="same number of columns"):
        check_paired(np.zeros((3, 2)), np.zeros((3, 4)), same_dim=True)
    with pytest.raises(InputError, match="at least 2 paired rows"):
        check_paired(np.zeros((1, 2)), np.zeros((1, 2)))
    assert check_vector([1, 2]).shape == (2,)
    with pytest.raises(InputError, match="1-D"):
        check_vector([[1, 2]])
    with pytest.raises(InputError, match="NaN"):
        check_vector([1, np.nan])
