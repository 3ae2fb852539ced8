"""The names the book's ``%run -i data_preparation/v2.py`` defines, from rpsbook's data.

:func:`rpsbook.paths.make_regression_data` draws the same points as the book's
``data_generation/simple_linear_regression.py`` and makes the same 80/20 ``random_split``
(seed 13) as its ``data_preparation/v2.py``, without touching the global random state. The
training loader shuffles from torch's global generator, which ``StepByStep.train`` seeds, as
in the book. Importing this module builds the data once.
"""

from __future__ import annotations

from ..paths import make_regression_data

__all__ = [
    "dataset",
    "train_data",
    "train_loader",
    "val_data",
    "val_loader",
    "x_tensor",
    "y_tensor",
]

_data = make_regression_data()
x_tensor, y_tensor = _data.x, _data.y
dataset = _data.train_dataset.dataset
train_data, val_data = _data.train_dataset, _data.val_dataset
train_loader, val_loader = _data.train_loader, _data.val_loader
