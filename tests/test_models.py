from __future__ import annotations

import numpy as np
import pytest
import torch

from rpsbook.models import CNN2


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cnn2_shapes_and_parameter_count():
    model = CNN2(n_filters=5, p=0.3)
    assert _n_params(model) == 6823
    assert model.conv1.weight.shape == (5, 3, 3, 3)
    assert model.conv2.weight.shape == (5, 5, 3, 3)
    x = torch.zeros(4, 3, 28, 28)
    assert model.featurizer(x).shape == (4, 125)
    assert model(x).shape == (4, 3)
    # dropout modules exist only when used
    assert isinstance(model.drop, torch.nn.Dropout) and model.drop.p == 0.3
    assert not any(isinstance(m, torch.nn.Dropout) for m in CNN2(5).modules())
    assert _n_params(CNN2(10)) == 3 * 10 * 9 + 10 + 100 * 9 + 10 + (250 * 50 + 50) + (50 * 3 + 3)


def test_book_keyword_n_feature_builds_the_same_model():
    torch.manual_seed(13)
    book = CNN2(n_feature=5, p=0.3)
    torch.manual_seed(13)
    ours = CNN2(n_filters=5, p=0.3)
    torch.manual_seed(13)
    positional = CNN2(5, 0.3)
    for a, b, c in zip(
        book.state_dict().values(),
        ours.state_dict().values(),
        positional.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert book.n_feature == book.n_filters == 5
    assert CNN2(n_feature=3).conv1.out_channels == 3
    assert CNN2().n_filters == 5


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="pass only one"):
        CNN2(n_filters=5, n_feature=5)
    with pytest.raises(ValueError, match="n_filters must be a positive integer"):
        CNN2(0)
    with pytest.raises(ValueError, match=r"dropout probability p must be a number in \[0, 1\)"):
        CNN2(5, p=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_filters": 2.5}, r"n_filters must be a positive integer, got 2.5"),
        ({"n_filters": True}, r"n_filters must be a positive integer, got True"),
        ({"n_feature": "5"}, r"n_feature must be a positive integer, got '5'"),
        ({"p": "0.3"}, r"dropout probability p must be a number in \[0, 1\), got '0.3'"),
        ({"p": True}, r"dropout probability p must be a number in \[0, 1\), got True"),
    ],
)
def test_wrong_types_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNN2(**kwargs)


def test_numpy_numbers_are_numbers():
    torch.manual_seed(13)
    numpy_built = CNN2(np.int64(5), p=np.float32(0.25))
    torch.manual_seed(13)
    built = CNN2(5, p=0.25)
    assert numpy_built.n_filters == 5 and type(numpy_built.n_filters) is int
    assert type(numpy_built.p) is float and numpy_built.drop.p == 0.25
    for a, b in zip(numpy_built.parameters(), built.parameters(), strict=True):
        assert torch.equal(a, b)
