"""
Where rpsbook differs from the book, and why
============================================

Each section states one slip of the chapter, or one place where torch departs from it, in
the words of :ref:`coming-from-the-book-errata`, and runs it: the book's behaviour,
re-created from its signatures and printed values, next to torch's or rpsbook's.
"""

import tempfile
from copy import deepcopy
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn, optim
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, LambdaLR

from rpsbook.models import CNN2
from rpsbook.paths import make_model, make_regression_data
from rpsbook.training import StepByStep, make_lr_fn, record_lrs

# %%
# Dropout: "four out of ten"
# --------------------------
#
# The dropout demo has eleven inputs, not ten; the book's own output drops four of the
# eleven. The book's printed output:

spaced_points = torch.linspace(0.1, 1.1, 11)
book_dropped = torch.tensor([0, 0.4, 0, 0.8, 0, 1.2, 1.4, 1.6, 1.8, 0, 2.2])
book_zeros = int((book_dropped == 0).sum())
print("inputs:", len(spaced_points), "| zeros in the book's output:", book_zeros)

# %%
# Dropout: a factor of 1/p
# ------------------------
#
# Kept values are scaled by 1/(1-p), not 1/p; with the book's p=0.5 the two coincide. Any
# other ``p`` tells them apart:

p = 0.3
torch.manual_seed(44)
dropped = nn.Dropout(p=p)(spaced_points)
scale = dropped[dropped != 0] / spaced_points[dropped != 0]
print(f"p={p}: kept values scaled by {scale.min():.4f} to {scale.max():.4f}")
print(f"1/(1-p) = {1 / (1 - p):.4f}, 1/p = {1 / p:.4f}")

# %%
# CNN2(n_feature=...)
# -------------------
#
# The text defines ``CNN2(n_filters, p)`` but calls ``CNN2(n_feature=...)``, which that
# signature rejects; rpsbook's CNN2 accepts both names.


class BookTextCNN2(nn.Module):
    def __init__(self, n_filters, p=0.0): ...  # the text's signature; layers do not matter


try:
    BookTextCNN2(n_feature=5, p=0.3)
except TypeError as error:
    book_cnn2_error = type(error).__name__
print("the text's CNN2(n_feature=5, p=0.3):", book_cnn2_error)
by_both_names = CNN2(n_filters=5), CNN2(n_feature=5)
cnn2_sizes = [sum(q.numel() for q in m.parameters()) for m in by_both_names]
print("rpsbook, CNN2(n_filters=5) and CNN2(n_feature=5):", cnn2_sizes, "parameters")

# %%
# The range test ignores step_mode
# --------------------------------
#
# The book's ``lr_range_test`` calls ``make_lr_fn`` without its ``step_mode``, so the grid
# is exponential whatever mode is asked for; rpsbook's honours it.
#
# The book's test re-created (without smoothing and plot), and rpsbook's, each on a copy of
# a model with dropout left in evaluation mode, both asked for a linear grid:


def book_range_test(model, optimizer, loss_fn, loader, end_lr, num_iter, step_mode="exp"):
    """The book's lr_range_test (re-created): its lrs and the mode of each forward pass."""
    saved = deepcopy(model.state_dict()), deepcopy(optimizer.state_dict())
    start_lr = optimizer.param_groups[0]["lr"]
    scheduler = LambdaLR(optimizer, make_lr_fn(start_lr, end_lr, num_iter))  # no step_mode
    lrs, modes = [], []
    while len(lrs) < num_iter:
        for x, y in loader:  # no model.train()
            modes.append(model.training)
            loss_fn(model(x), y).backward()
            lrs.append(scheduler.get_last_lr()[0])
            if len(lrs) == num_iter:
                break  # before zero_grad: the last gradients stay
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    optimizer.load_state_dict(saved[1])
    model.load_state_dict(saved[0])
    return lrs, modes


data = make_regression_data()
args = (data.train_loader, 0.1, 10, "linear")  # loader, end_lr, num_iter, step_mode
torch.manual_seed(42)
book_model = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1)).eval()
rps_model = deepcopy(book_model)
book_optimizer = optim.SGD(book_model.parameters(), lr=0.01)
book_lrs, book_modes = book_range_test(book_model, book_optimizer, nn.MSELoss(), *args)
rps_modes = []
rps_model.register_forward_pre_hook(lambda module, inputs: rps_modes.append(module.training))
sbs = StepByStep(rps_model, nn.MSELoss(), optim.SGD(rps_model.parameters(), lr=0.01))
rps_result = sbs.lr_range_test(*args)
print("book (re-created):", np.round(book_lrs, 4))
print("rpsbook:          ", np.round(rps_result.lr, 4))

# %%
# The range test never sets train mode
# ------------------------------------
#
# The book's test trains in whatever mode the model is in, so after a validation pass
# dropout is off during the test; rpsbook's trains in train mode and restores the mode:

print("book (re-created), training?", sorted(set(book_modes)))
print("rpsbook, training?", sorted(set(rps_modes)), "| afterwards:", rps_model.training)

# %%
# The range test leaves the last gradients
# ----------------------------------------
#
# The book's test restores the model and the optimizer but leaves the last mini-batch's
# gradients in ``.grad``, where the next training step adds them to its own; rpsbook's
# leaves ``.grad`` as it found it. Which parameters hold a gradient afterwards:

print("book (re-created):", [q.grad is not None for q in book_model.parameters()])
print("rpsbook:          ", [q.grad is not None for q in rps_model.parameters()])

# %%
# AMSGrad and bias correction
# ---------------------------
#
# The book describes ``amsgrad`` as the AMSGrad paper defines it, without bias correction;
# torch departs from the paper and the book, and keeps the correction: it divides by
# ``sqrt(max_exp_avg_sq) / sqrt(1 - beta2 ** t) + eps``. Two steps on one weight, by hand
# both ways, next to ``torch.optim.Adam(amsgrad=True)``:

weight = nn.Parameter(torch.ones(1, dtype=torch.float64))
adam = optim.Adam([weight], lr=0.1, amsgrad=True)
m = v = v_max = 0.0
with_correction = without_correction = 1.0
for t, g in enumerate((1.0, 0.1), start=1):
    weight.grad = torch.tensor([g], dtype=torch.float64)
    adam.step()
    m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
    v_max = max(v_max, v)
    with_correction -= 0.1 * (m / (1 - 0.9**t)) / ((v_max / (1 - 0.999**t)) ** 0.5 + 1e-8)
    without_correction -= 0.1 * m / (v_max**0.5 + 1e-8)
print(f"torch, amsgrad=True: {weight.item():.6f}")
print(f"by hand, with correction: {with_correction:.6f}; without: {without_correction:.6f}")

# %%
# ReduceLROnPlateau: "in the sixth epoch"
# ---------------------------------------
#
# With ``patience=4`` and a flat loss, torch first uses the reduced rate in the seventh
# epoch, as the book's own Figure 6.25 shows, not in the sixth. The first epoch sets the
# best loss, epochs 2 to 6 are five without improvement, and the cut made after the sixth
# applies from the seventh. ``record_lrs`` runs the book's figure loop (a flat loss of 0.1):

plateau = partial(optim.lr_scheduler.ReduceLROnPlateau, patience=4, factor=0.1)
plateau_lrs = record_lrs(plateau, 12, lr=0.01, metrics=0.1)
print("lr in epochs 1-12:", [f"{lr:g}" for lr in plateau_lrs])
print("first epoch at the reduced lr:", 1 + plateau_lrs.index(0.001))

# %%
# set_lr_scheduler ignores another optimizer's scheduler
# ------------------------------------------------------
#
# The book's ``set_lr_scheduler`` silently keeps no scheduler built on another optimizer,
# so training runs unscheduled; rpsbook's raises a ``ValueError``.

model = make_model()
trainer = StepByStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
elsewhere = CyclicLR(optim.SGD(model.parameters(), lr=0.1), base_lr=0.01, max_lr=0.1)
if elsewhere.optimizer == trainer.optimizer:  # the book's set_lr_scheduler(elsewhere), re-created
    trainer.scheduler = elsewhere
print("book (re-created): scheduler kept?", trainer.scheduler is not None)
try:
    trainer.set_lr_scheduler(elsewhere)
except ValueError as error:
    rps_scheduler_error = type(error).__name__
print("rpsbook:", rps_scheduler_error)

# %%
# CyclicLR's exp_range shrinks every iteration
# --------------------------------------------
#
# ``exp_range`` multiplies the amplitude by ``gamma`` to the power of the iteration count,
# not of the cycle number as the book says. The book's example (``step_size_up=2``,
# ``gamma=sqrt(0.5)``) peaks at iterations 2 and 6:

gamma = 0.5**0.5
exp_range_lrs = record_lrs(
    lambda opt: CyclicLR(opt, 1e-4, 1e-3, step_size_up=2, mode="exp_range", gamma=gamma), 8
)
amplitudes = [(exp_range_lrs[i] - 1e-4) / (1e-3 - 1e-4) for i in (2, 6)]
print("amplitude at the two peaks:", np.round(amplitudes, 4))
print(f"gamma ** cycle: {gamma:.4f}, {gamma**2:.4f}; gamma ** iteration: 0.5, {gamma**6:.4f}")

# %%
# Three CyclicLR schedulers on one optimizer
# ------------------------------------------
#
# The book builds its three ``CyclicLR`` examples on one optimizer; its figure is still
# right, but stepped together the optimizer follows the last one stepped; rpsbook's
# ``record_lrs`` gives each scheduler its own optimizer.
#
# The book's figure steps one scheduler at a time, 12 steps each, and each run ends at
# ``base_lr``, where the next starts. Then one step of all three, as in training:

cyclic = {"base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 2, "gamma": gamma}  # the book's
shared = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
modes = ("triangular", "triangular2", "exp_range")
on_shared = {mode: CyclicLR(shared, mode=mode, **cyclic) for mode in modes}
figure_lrs = {mode: [] for mode in modes}
for mode, scheduler in on_shared.items():  # the book's figure (re-created)
    for _ in range(12):
        figure_lrs[mode].append(shared.param_groups[0]["lr"])
        shared.step()
        scheduler.step()
own_lrs = {mode: record_lrs(partial(CyclicLR, mode=mode, **cyclic), 12) for mode in modes}
print("figure == own optimizer:", {m: figure_lrs[m] == own_lrs[m] for m in modes})
shared.step()
for scheduler in on_shared.values():
    scheduler.step()
together = {m: round(s.get_last_lr()[0], 6) for m, s in on_shared.items()}
print("one step together:", together, "| optimizer:", round(shared.param_groups[0]["lr"], 6))

# %%
# Smith's two to ten epochs are half a cycle
# ------------------------------------------
#
# Smith's 2-10 epochs are the stepsize, half a cycle (``step_size_up``), so a full cycle
# spans 4 to 20 epochs, not 2 to 10 as the book says. The book's five-epoch example fits
# both readings; its final model's two-epoch cycle (``step_size_up=len(train_loader)``) is
# below Smith's range. The example: 158 mini-batches per epoch and ``step_size_up=395``:

n_batches = 158
smith_lrs = record_lrs(lambda opt: CyclicLR(opt, 1e-3, 1e-2, step_size_up=395), 1600)
peaks = [i for i in range(1, 1599) if smith_lrs[i - 1] < smith_lrs[i] >= smith_lrs[i + 1]]
print("peaks at mini-batches:", peaks, f"| cycle: {(peaks[1] - peaks[0]) / n_batches:g} epochs")
print(f"Smith's stepsize of 2-10 epochs: step_size_up {2 * n_batches}-{10 * n_batches}")

# %%
# CosineAnnealingWarmRestarts one epoch out of phase
# --------------------------------------------------
#
# The book steps it with epochs counted from 1, so with ``T_0=2`` its first epoch runs the
# second half of the cycle; rpsbook's trainer counts from 0 and starts at the cycle's peak.
#
# The book's stepping (its epoch counter is raised before the epoch), re-created, and
# rpsbook's trainer, over two epochs of five mini-batches:

n_regression = len(data.train_loader)
warm_optimizer = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
warm = CosineAnnealingWarmRestarts(warm_optimizer, T_0=2)
book_warm_lrs = []
for epoch in (1, 2):  # the book's behaviour (re-created)
    for i in range(n_regression):
        book_warm_lrs.append(warm_optimizer.param_groups[0]["lr"])
        warm_optimizer.step()
        warm.step(epoch + i / n_regression)
model = make_model()
warm_sbs = StepByStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
warm_sbs.set_loaders(data.train_loader)
warm_sbs.set_lr_scheduler(CosineAnnealingWarmRestarts(warm_sbs.optimizer, T_0=2))
warm_sbs.train(2)
print("book (re-created):", np.round(book_warm_lrs, 4))
print("rpsbook:          ", np.round(warm_sbs.step_lrs, 4))

# %%
# lr=0.03 is never used
# ---------------------
#
# Building a ``CyclicLR`` sets the optimizer's lr to ``base_lr``, so the final model's
# ``lr=0.03`` is overwritten before the first step. The book's optimizer and scheduler:

final_optimizer = optim.SGD(CNN2(5, p=0.5).parameters(), lr=0.03, momentum=0.9, nesterov=True)
lr_before = final_optimizer.param_groups[0]["lr"]
CyclicLR(final_optimizer, base_lr=1e-3, max_lr=0.01, step_size_up=n_batches, mode="triangular2")
lr_after = final_optimizer.param_groups[0]["lr"]
print("lr before CyclicLR:", lr_before, "| after, before any step:", lr_after)

# %%
# load_checkpoint and weights_only
# --------------------------------
#
# The book's checkpoints hold NumPy losses, which torch's safe loader (the default since
# 2.6) refuses, so the book loads them with ``weights_only=False``, an unsafe unpickling;
# rpsbook saves plain floats and loads with ``weights_only=True``.
#
# A checkpoint with NumPy losses, as the book's ``np.mean`` makes them, then rpsbook's:

trainer.set_loaders(data.train_loader)
trainer.train(2)
model = make_model()
restored = StepByStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
with tempfile.TemporaryDirectory() as folder:
    torch.save({"loss": [np.float64(0.5)]}, Path(folder) / "book.pth")
    try:
        torch.load(Path(folder) / "book.pth", weights_only=True)
    except Exception as error:  # pickle.UnpicklingError
        book_load_error = type(error).__name__
    trainer.save_checkpoint(Path(folder) / "rpsbook.pth")
    restored.load_checkpoint(Path(folder) / "rpsbook.pth")
print("book-style checkpoint, weights_only=True:", book_load_error)
print("rpsbook, weights_only=True: losses restored?", restored.losses == trainer.losses)

# %%
# correct and a nested sigmoid
# ----------------------------
#
# The book's ``correct`` looks for a final ``nn.Sigmoid`` only at the top of an
# ``nn.Sequential``, so a nested one gets a second sigmoid and every prediction is class 1;
# rpsbook looks inside. A perfect classifier with its sigmoid in an inner ``Sequential``:

classifier = nn.Sequential(nn.Sequential(nn.Linear(1, 1), nn.Sigmoid()))
classifier.load_state_dict({"0.0.weight": torch.ones(1, 1), "0.0.bias": torch.zeros(1)})
x_binary, y_binary = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]), torch.tensor([0, 0, 1, 1])
yhat = classifier(x_binary).detach().reshape(-1)
if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Sigmoid):  # book's
    book_predicted = (yhat > 0.5).long()
else:
    book_predicted = (torch.sigmoid(yhat) > 0.5).long()
print("book (re-created), predictions:", book_predicted.tolist())
binary_sbs = StepByStep(classifier, nn.BCELoss(), optim.SGD(classifier.parameters(), lr=0.1))
rps_counts = binary_sbs.correct(x_binary, y_binary)
print("rpsbook, [correct, total] per class:", rps_counts.tolist())

# %%
# Notes
# -----
#
# The range test's leftover gradients matter most on the chapter's final model
# (:ref:`sphx_glr_auto_examples_plot_12_putting_it_all_together.py`): the training that
# follows takes another path, by how much depends on the machine. rpsbook's range test can
# also stop once the smoothed loss exceeds ``diverge_th`` times its best, and it restores the
# model, optimizer, gradients and random number generators in a ``finally`` block.
