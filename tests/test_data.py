"""symopt.data: the weight column and the 1/sigma conversion live here, once."""

import numpy as np
import pytest

import symopt as so
from symopt import data, problem
from symopt.errors import InputError


def test_weights_are_one_over_sigma_or_ones():
    assert data.weights(np.array([2.0, 4.0]), 2).tolist() == [0.5, 0.25]
    assert data.weights(None, 3).tolist() == [1.0, 1.0, 1.0]


def test_a_sigma_not_positive_raises_naming_the_row_or_gives_nan_in_a_batch():
    with pytest.raises(InputError, match="row 1"):
        data.weights(np.array([1.0, 0.0]), 2)
    lenient = data.weights(np.array([1.0, -1.0, 2.0]), 3, strict=False)
    assert lenient[0] == 1.0 and np.isnan(lenient[1]) and lenient[2] == 0.5


def test_one_name_for_the_weight_column():
    assert problem.WEIGHT_COLUMN == data.WEIGHT_COLUMN
    model = so.LeastSquares.from_model("a * x", independent="x", wrt="a")
    wanted, allowed = data.given_columns(model.data_names)
    assert data.WEIGHT_COLUMN in model.data_names and data.WEIGHT_COLUMN not in wanted
    assert allowed == {"x", "y", "sigma"}
