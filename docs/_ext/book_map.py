"""The book's chapter 6 mapped onto the gallery: its sections, its figures 6.1-6.31 and their
panels, which :mod:`concordance` renders and checks."""

from __future__ import annotations

from typing import Any

#: The book's sections (chapter 6) -> (gallery script, heading or None for the page's top). A
#: heading is looked up on that script's page first, then on every gallery page, so a section
#: that moves to another page is still found; one found nowhere fails the build (-W).
BOOK_SECTIONS: list[tuple[str, str, str | None]] = [
    ("Data Preparation", "plot_01_data_preparation", None),
    ("ImageFolder", "plot_01_data_preparation", "ImageFolder"),
    ("Standardization", "plot_01_data_preparation", "The normalizer"),
    ("The Real Datasets", "plot_01_data_preparation", "The real datasets and loaders"),
    ("Three-Channel Convolutions", "plot_02_three_channel_convolutions", None),
    ("Fancier Model", "plot_03_fancier_model", None),
    ("Dropout", "plot_04_dropout", None),
    ("Two-Dimensional Dropout", "plot_04_dropout", "Dropout for images: Dropout2d"),
    ("Model Configuration", "plot_05_model_training", None),
    ("Model Training", "plot_05_model_training", "Training with dropout"),
    ("Accuracy", "plot_05_model_training", "Accuracy, class by class"),
    ("Regularizing Effect", "plot_05_model_training", "The regularizing effect of dropout"),
    ("Visualizing Filters", "plot_05_model_training", "What did the filters learn?"),
    ("Learning Rates", "plot_06_learning_rates", None),
    ("Finding LR", "plot_06_learning_rates", "The range test on the chapter's model"),
    ("LRFinder", "plot_06_learning_rates", "Our range test against torch-lr-finder"),
    ("Adaptive Learning Rate", "plot_07_adaptive_learning_rate", None),
    ("Moving Average (MA)", "plot_06b_moving_averages", "The simple moving average"),
    ("EWMA", "plot_06b_moving_averages", "The exponentially weighted moving average"),
    (
        "Bias Correction",
        "plot_06b_moving_averages",
        "Starting from zero: the bias of an EWMA",
    ),
    ("Adam", "plot_07_adaptive_learning_rate", "Adam"),
    (
        "Visualizing Adapted Gradients",
        "plot_07_adaptive_learning_rate",
        "Adam's state is nothing but two EWMAs",
    ),
    ("Stochastic Gradient Descent (SGD)", "plot_08_sgd_flavours", None),
    ("Momentum", "plot_08_sgd_flavours", "Momentum is a discounted sum"),
    ("Nesterov", "plot_08_sgd_flavours", "Nesterov: look before you leap"),
    ("Flavors of SGD", "plot_08_sgd_flavours", "All three flavours"),
    ("Learning Rate Schedulers", "plot_09_epoch_schedulers", None),
    (
        "Epoch Schedulers",
        "plot_09_epoch_schedulers",
        "Epoch schedulers: a rule of the epoch number",
    ),
    (
        "Validation Loss Scheduler",
        "plot_09_epoch_schedulers",
        "Validation-loss scheduler: cut the rate when progress stalls",
    ),
    (
        "Schedulers in StepByStep: Part I",
        "plot_09_epoch_schedulers",
        "How StepByStep steps each kind",
    ),
    ("Mini-Batch Schedulers", "plot_10_cyclical_schedulers", None),
    (
        "Schedulers in StepByStep: Part II",
        "plot_10_cyclical_schedulers",
        "Schedulers in StepByStep, part II: a step after every mini-batch",
    ),
    ("Scheduler Paths", "plot_11_schedulers_on_the_regression", None),
    ("Adaptive vs Cycling", "plot_10_cyclical_schedulers", "Adaptive or cycling? Both"),
    ("Putting It All Together", "plot_12_putting_it_all_together", None),
    ("Recap", "plot_12_putting_it_all_together", "Recap of the chapter"),
]
BOOK_FIGURES = [f"6.{n}" for n in range(1, 32)]
#: Panels of the book's figures that compare runs one panel each (from its plots/chapter6.py
#: and notebook): a page that draws them in fewer or more panels must say so in its verdict.
BOOK_PANELS = {"6.17": 3, "6.18": 2, "6.19": 2, "6.20": 2, "6.21": 3, "6.22": 3, "6.23": 3}
BOOK_PANELS |= {"6.26": 3, "6.27": 2, "6.28": 9, "6.29": 6}


def layout_warning(stem: str, record: dict[str, Any]) -> str | None:
    """Why a record's verdict "same" is wrong, when its panels are not the book's."""
    book = BOOK_PANELS.get(record["figure"])
    panels = record.get("panels")
    if record["verdict"] != "same" or book is None or panels in (None, book):
        return None
    return (
        f"concordance: Figure {record['figure']} on {stem} has {panels} panel(s), the book's "
        f"has {book}; its book_figure verdict 'same' must say how it differs ('differs: ...')"
    )
