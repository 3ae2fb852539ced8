"""
Where rpsbook differs from the book, and why
============================================

rpsbook follows the chapter's names, signatures and numbers, but not its slips. This page
lists every typo and bug of the chapter that rpsbook fixes, and demonstrates each one
with code that runs when the site is built: first the book's behaviour, re-created in a
few lines of our own (the book's code is not imported or copied, and each re-creation is
labelled as such), then what rpsbook does. Everything runs on small tensors or on the
linear-regression playground of the adaptive-learning-rate pages, so the page is cheap.
"""

# %%
# Dropout: eleven inputs, and a scale of 1 / (1 - p)
# ---------------------------------------------------
#
# Two typos in the dropout section. The demo feeds *eleven* values (0.1 to 1.1) to the
# dropout layer, not ten, so a sentence counting "four out of ten" dropped values does not
# describe it. And the kept values are scaled by ``1 / (1 - p)``, the inverse of the
# probability of being *kept*, not by ``1 / p``; with the chapter's ``p=0.5`` the two
# coincide, which hides the slip. Any other ``p`` tells them apart:

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn, optim
from torch.optim.lr_scheduler import (
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LambdaLR,
    ReduceLROnPlateau,
)

from rpsbook.models import CNN2
from rpsbook.paths import make_model, make_regression_data
from rpsbook.report import book_figure
from rpsbook.schedulers import cosine_warm_restarts_epoch, record_lrs
from rpsbook.trainer import StepByStep

inputs = torch.linspace(0.1, 1.1, 11)
print("number of inputs:", inputs.numel())

p = 0.3
torch.manual_seed(44)
outputs = nn.Dropout(p=p)(inputs)
kept = outputs != 0
print(f"p = {p}: kept {kept.sum().item()} of {inputs.numel()}")
print(f"observed scale of the kept values: {(outputs[kept] / inputs[kept]).mean().item():.4f}")
print(f"1 / (1 - p) = {1 / (1 - p):.4f}   vs   1 / p = {1 / p:.4f}")

# %%
# The learning-rate range test
# ----------------------------
#
# The book's ``lr_range_test`` has three defects; rpsbook's
# :func:`~rpsbook.lr_finder.lr_range_test` has none of them. All three show on the
# regression playground within a few steps.
#
# **step_mode is ignored.** The book's test accepts ``step_mode`` but always builds the
# exponential grid. Re-created here as the book's behaviour: a factor that is exponential
# whatever mode is asked for, next to rpsbook's test asked for a linear grid.

data = make_regression_data()
start_lr, end_lr, num_iter = 0.01, 0.1, 10


def book_lr_factor(step_mode: str):
    """The book's behaviour (re-created): the exponential factor, whatever step_mode says."""
    return lambda i: (end_lr / start_lr) ** (i / num_iter)


dummy = optim.SGD([nn.Parameter(torch.zeros(1))], lr=start_lr)
book_scheduler = LambdaLR(dummy, book_lr_factor("linear"))
book_lrs = []
for _ in range(num_iter):
    book_lrs.append(dummy.param_groups[0]["lr"])
    dummy.step()
    book_scheduler.step()

model = make_model()
optimizer = optim.SGD(model.parameters(), lr=start_lr)
sbs = StepByStep(model, nn.MSELoss(), optimizer, device="cpu")
sbs.set_loaders(data.train_loader)
result = sbs.lr_range_test(
    data.train_loader, end_lr, num_iter=num_iter, step_mode="linear", progress=False
)
print("asked for step_mode='linear'")
print("book (re-created):", np.round(book_lrs, 4))
print("rpsbook:          ", np.round(result.lr, 4))

# %%
# **Train mode is never set.** The book's test trains in whatever mode the model happens
# to be in: after an evaluation, that is evaluation mode, and dropout and batch norm then
# behave as at prediction time during the test. A forward hook records the mode of every
# forward pass. The book's behaviour, re-created as a loop that never calls
# ``model.train()``, next to rpsbook's test on the same model left in evaluation mode:

modes = []
model = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1))
model.register_forward_hook(lambda module, args, output: modes.append(module.training))
optimizer = optim.SGD(model.parameters(), lr=start_lr)
loss_fn = nn.MSELoss()
model.eval()

for x, y in data.train_loader:  # the book's behaviour (re-created): no model.train()
    loss_fn(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad()
print("book (re-created), modes seen:", sorted(set(modes)))

sbs = StepByStep(model, loss_fn, optimizer, device="cpu")
sbs.set_loaders(data.train_loader)
model.eval()
modes.clear()
_ = sbs.lr_range_test(data.train_loader, end_lr, num_iter=5, progress=False)
print("rpsbook, modes seen:          ", sorted(set(modes)), "| afterwards:", model.training)

# %%
# rpsbook trains in train mode during the test and gives the model back in the mode it
# found it (here, evaluation mode).
#
# **The last mini-batch's gradients are left behind.** The book restores the model's and
# the optimizer's states after the test, but not the parameters' ``.grad``: whatever the
# last step computed stays there and is added to the first gradient of the next training
# step if nothing zeroes it first. Re-created: a step that computes gradients and a
# restore that only reloads the state dicts.

model = make_model()
optimizer = optim.SGD(model.parameters(), lr=start_lr)
saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()
x, y = next(iter(data.train_loader))
loss_fn(model(x), y).backward()  # the book's behaviour (re-created): the last backward ...
model.load_state_dict(saved_model)  # ... then a restore of the states only
optimizer.load_state_dict(saved_optimizer)
print("book (re-created), grad after the test:", model.linear.weight.grad)

model = make_model()
sbs = StepByStep(model, loss_fn, optim.SGD(model.parameters(), lr=start_lr), device="cpu")
sbs.set_loaders(data.train_loader)
_ = sbs.lr_range_test(data.train_loader, end_lr, num_iter=num_iter, progress=False)
print("rpsbook, grad after the test:          ", model.linear.weight.grad)

# %%
# On the final model of the chapter (last page) the leftovers change the whole training
# that follows, by an amount that depends on the machine. With the book's own package on
# this copy (torch 2.14.1, CPU, two threads, 2026-12-02): leftover gradients of norm about
# 1958, and 241/372 correct instead of 336/372 with them zeroed. Re-created on an AMD EPYC
# with AVX-512 kernels (two threads): norm about 2.6, and 335/372 instead of rpsbook's
# 347/372.
#
# **What else rpsbook's test does.** ``diverge_th`` stops the test once the smoothed loss
# exceeds that multiple of its best value, and a non-finite loss always stops it. The
# restoration happens in a ``finally`` block, so an exception halfway (out of memory, a
# keyboard interrupt) does not leave a half-trained model behind, and it covers the random
# number generators too, so the test does not change what the next training run sees.
#
# Schedulers
# ----------
#
# **A scheduler built on another optimizer is silently ignored.** The book's
# ``set_lr_scheduler`` only keeps a scheduler whose optimizer is the trainer's, and
# otherwise does nothing, so training runs without the schedule and nothing says so.
# Re-created as the book's behaviour, next to rpsbook's
# :meth:`~rpsbook.trainer.StepByStep.set_lr_scheduler`:


def book_set_lr_scheduler(trainer, scheduler):
    """The book's behaviour (re-created): keep the scheduler only if optimizers match."""
    if scheduler.optimizer is trainer.optimizer:
        trainer.scheduler = scheduler


model = make_model()
sbs = StepByStep(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), device="cpu")
other_optimizer = optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(other_optimizer, step_size=1, gamma=0.5)
book_set_lr_scheduler(sbs, scheduler)
print("book (re-created): scheduler kept?", sbs.scheduler is not None, "(and no error)")
try:
    sbs.set_lr_scheduler(scheduler)
except ValueError as error:
    print("rpsbook: ValueError:", error)

# %%
# **CosineAnnealingWarmRestarts runs one epoch out of phase.** This scheduler is stepped
# after every mini-batch with the fractional epoch reached so far. The book counts its
# epochs from 1 at that point (its epoch counter is incremented before the epoch is
# trained), so the first epoch is scheduled as if it were the second. With a cycle of two
# epochs (``T_0=2``), the first epoch then starts at the *middle* of the cycle instead of
# its peak. Re-created as the book's stepping, next to the trainer's (which uses
# :func:`~rpsbook.schedulers.cosine_warm_restarts_epoch`), on the regression's five
# mini-batches per epoch:

n_batches, n_epochs = len(data.train_loader), 2


def warm_restarts(optimizer):
    return CosineAnnealingWarmRestarts(optimizer, T_0=2, eta_min=0.0)


dummy = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
book_scheduler = warm_restarts(dummy)
book_lrs = []
for epoch in range(1, n_epochs + 1):  # the book's behaviour (re-created): epochs from 1
    for i in range(n_batches):
        book_lrs.append(dummy.param_groups[0]["lr"])
        dummy.step()
        book_scheduler.step(epoch + i / n_batches)

model = make_model()
sbs = StepByStep(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), device="cpu")
sbs.set_loaders(data.train_loader)
sbs.set_lr_scheduler(warm_restarts(sbs.optimizer))
sbs.train(n_epochs, progress=False)
print("book (re-created):", np.round(book_lrs, 4))
print("rpsbook:          ", np.round(sbs.step_lrs, 4))
positions = [
    cosine_warm_restarts_epoch(e, i, n_batches) for e in range(n_epochs) for i in range(n_batches)
]
expected = [0.05 * (1 + np.cos(np.pi * t / 2)) for t in positions]
print("cosine at 0, 0.2, ...:", np.round(expected, 4))

fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
ax.plot(positions, expected, color="0.7", linewidth=6, label="cosine of the fractional epoch")
ax.plot(positions, book_lrs, "o--", label="book's stepping (re-created): epochs from 1")
ax.plot(positions, sbs.step_lrs, "s-", markersize=4, label="rpsbook's trainer")
ax.set_xlabel("fractional epoch at the start of the mini-batch")
ax.set_ylabel("learning rate")
ax.legend()
ax.set_title("CosineAnnealingWarmRestarts(T_0=2): lr of each mini-batch")
book_figure(
    fig,
    None,
    "The learning rate of each mini-batch over two epochs of CosineAnnealingWarmRestarts: "
    "rpsbook's trainer follows the cosine from its peak, the book's stepping starts half a "
    "cycle late.",
)

# %%
# **exp_range shrinks the cycle every iteration, not every cycle.** In ``CyclicLR``'s
# ``exp_range`` mode the amplitude is multiplied by ``gamma ** iterations`` (its
# ``scale_mode`` is ``"iterations"``), so with ``gamma = sqrt(0.5)`` and
# ``step_size_up=2`` the very first peak, at iteration 2, is already at half the
# amplitude, not at ``gamma`` of it. Measured from the scheduler itself:

gamma = 0.5**0.5
lrs = record_lrs(
    lambda opt: CyclicLR(
        opt, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode="exp_range", gamma=gamma
    ),
    8,
)
peaks = [lrs[2], lrs[6]]
amplitudes = [(peak - 1e-4) / (1e-3 - 1e-4) for peak in peaks]
print("lrs:", np.round(lrs, 6))
print("peak amplitudes (share of max - base):", np.round(amplitudes, 4))
print(
    f"gamma ** cycle would give {gamma:.4f}, {gamma**2:.4f}; gamma ** iteration gives "
    f"{gamma**2:.4f}, {gamma**6:.4f}"
)

# %%
# **Three CyclicLR examples on one optimizer.** The book's snippet builds the three modes
# of ``CyclicLR`` on the same optimizer. What that does: each scheduler keeps its own step
# count (``last_epoch``) and computes its learning rate from it, so the sequence each one
# reports (``get_last_lr()``) is unaffected, and so is the book's figure, drawn from those
# sequences. What is shared is the optimizer's single ``lr`` entry: every scheduler writes
# its value there, and a training loop with that optimizer would use whichever scheduler
# stepped last. Re-created as the book's snippet: three schedulers on one optimizer,
# stepped in turn, recording each one's ``get_last_lr()`` and what the optimizer holds;
# next to :func:`~rpsbook.schedulers.record_lrs`, which gives each scheduler its own
# throwaway optimizer.

modes_and_gammas = {"triangular": 1.0, "triangular2": 1.0, "exp_range": gamma}


def cyclic(opt, mode):
    return CyclicLR(
        opt, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode=mode, gamma=modes_and_gammas[mode]
    )


shared = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
schedulers = {mode: cyclic(shared, mode) for mode in modes_and_gammas}
reported = {mode: [] for mode in modes_and_gammas}
held = []
for _ in range(8):  # the book's behaviour (re-created): one optimizer for three schedulers
    held.append(shared.param_groups[0]["lr"])
    for mode, scheduler in schedulers.items():
        reported[mode].append(scheduler.get_last_lr()[0])
    shared.step()
    for scheduler in schedulers.values():
        scheduler.step()
for mode in modes_and_gammas:
    own = record_lrs(lambda opt, m=mode: cyclic(opt, m), 8)
    same = np.allclose(reported[mode], own, rtol=0, atol=1e-15)
    print(f"{mode:>11}: {np.round(reported[mode], 5)}; as on its own optimizer: {same}")
print("the shared optimizer's lr:     ", np.round(held, 5))
print("last scheduler's (exp_range):  ", np.round(reported["exp_range"], 5))

# %%
# Each scheduler's sequence is the one it gives on an optimizer of its own, and the shared
# optimizer holds the exp_range values, those of the scheduler stepped last. The figure
# is right; a training run on that optimizer would follow exp_range only.

# %%
# **ReduceLROnPlateau's reduced lr comes in the seventh epoch.** The book says that with
# ``patience=4`` the reduced learning rate is used "in the sixth epoch". Stepped once per
# epoch with a loss that never improves, as in its Figure 6.25, torch keeps 0.01 for six
# epochs: the first epoch sets the best loss, epochs two to six are the five epochs
# without improvement that exceed the patience of four, and the reduction, made after the
# sixth, applies from the seventh:

dummy = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
plateau = ReduceLROnPlateau(dummy, patience=4, factor=0.1)
used = []
for _ in range(12):
    used.append(dummy.param_groups[0]["lr"])
    dummy.step()
    plateau.step(1.0)  # a flat validation loss
print("lr used in epochs 1..12:", [f"{lr:g}" for lr in used])
print("first epoch at the reduced lr:", next(e for e, lr in enumerate(used, 1) if lr < 0.01))

# %%
# **A cycle of 2 to 10 epochs is Smith's rule for half a cycle.** The book says that a
# *full* cycle should span 2 to 10 epochs, citing Smith (2017). Smith's paper (section
# 3.2) sets the *stepsize*, the number of iterations of half a cycle, to 2 to 10 times the
# iterations of an epoch. In ``CyclicLR`` that stepsize is ``step_size_up``, and a cycle
# is twice as long, as the scheduler itself shows: with the chapter's 158 mini-batches and
# ``step_size_up = 395`` (the book's example for a 5-epoch cycle), the learning rate
# peaks at these mini-batches:

n_train_batches = 158
lrs = record_lrs(lambda opt: CyclicLR(opt, base_lr=1e-3, max_lr=1e-2, step_size_up=395), 1600)
peaks = [i for i in range(1, len(lrs) - 1) if lrs[i - 1] < lrs[i] >= lrs[i + 1]]
print("peaks at mini-batches:", peaks, "| cycle:", peaks[1] - peaks[0], "mini-batches")
print(f"= {(peaks[1] - peaks[0]) / n_train_batches:g} epochs of {n_train_batches} mini-batches")
print(
    "Smith's rule, step_size_up of 2-10 epochs:",
    f"{2 * n_train_batches}-{10 * n_train_batches} mini-batches, a cycle of 4-20 epochs",
)

# %%
# So the book's 5-epoch cycle has a stepsize of 2.5 epochs, inside Smith's range; but a
# full cycle of 2 epochs, allowed by the book's wording, has a stepsize of one epoch, below
# Smith's lower bound.
#
# **lr=0.03 is never used.** One of the book's snippets builds an optimizer with
# ``lr=0.03`` and then a ``CyclicLR`` on it. Building a ``CyclicLR`` sets the optimizer's lr
# to ``base_lr`` at once, so 0.03 is overwritten before the first step:

optimizer = optim.SGD(make_model().parameters(), lr=0.03)
print("lr given to the optimizer:", optimizer.param_groups[0]["lr"])
_ = CyclicLR(optimizer, base_lr=1e-3, max_lr=1e-2, step_size_up=2)
print("lr after building CyclicLR, before any step:", optimizer.param_groups[0]["lr"])

# %%
# rpsbook's pages give the optimizer the scheduler's ``base_lr`` (or say that it will be
# replaced), so the value in the code is the value that trains.
#
# Adam's ``amsgrad`` keeps the bias correction
# --------------------------------------------
#
# The book describes AMSGrad as Adam with the running maximum of the squared gradients'
# EWMA in the denominator *and without bias correction*. torch 2.14 keeps the correction:
# it divides by ``sqrt(max_exp_avg_sq) / sqrt(1 - beta2 ** t) + eps``. Two steps on one
# weight, recomputed both ways and set next to ``torch.optim.Adam(amsgrad=True)``:

weight = nn.Parameter(torch.ones(1, dtype=torch.float64))
adam = optim.Adam([weight], lr=0.1, amsgrad=True)
beta1, beta2, eps = 0.9, 0.999, 1e-8
m = v = v_max = 0.0
by_hand = {"with correction": 1.0, "without (the book's description)": 1.0}
for t, g in enumerate((1.0, 0.1), start=1):
    weight.grad = torch.tensor([g], dtype=torch.float64)
    adam.step()
    m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2
    v_max = max(v_max, v)
    corrected_m = m / (1 - beta1**t)
    by_hand["with correction"] -= 0.1 * corrected_m / ((v_max / (1 - beta2**t)) ** 0.5 + eps)
    by_hand["without (the book's description)"] -= 0.1 * m / (v_max**0.5 + eps)
print(f"torch, amsgrad=True:              {weight.item():.6f}")
for name, value in by_hand.items():
    print(f"by hand, {name + ':':<33} {value:.6f}")

# %%
# torch's weight is the one computed with the correction. The consequence on the Adam page:
# the uncorrected maximum never shrinks, but the corrected denominator can.
#
# The model and the trainer
# -------------------------
#
# **CNN2(n_feature=...) versus n_filters.** The chapter's text defines ``CNN2`` with an
# argument named ``n_filters`` but later calls it with ``n_feature=`` (the name its
# notebook uses throughout). With the text's signature, Python rejects that call.
# Re-created: a class with the text's signature only:


class BookTextCNN2(nn.Module):
    """The book text's signature (re-created); the layers do not matter here."""

    def __init__(self, n_filters, p=0.0):
        super().__init__()
        self.n_filters, self.p = n_filters, p


try:
    BookTextCNN2(n_feature=5, p=0.3)
except TypeError as error:
    print("book text's signature, CNN2(n_feature=5, p=0.3):", type(error).__name__)
    print("  ", error)

# %%
# rpsbook's :class:`~rpsbook.models.CNN2` takes ``n_filters`` and accepts the notebook's
# ``n_feature`` as another name for it, so both of the book's calls build the same model:

by_filters, by_feature = CNN2(n_filters=5, p=0.3), CNN2(n_feature=5, p=0.3)
print(
    "rpsbook, CNN2(n_filters=5) and CNN2(n_feature=5):",
    [sum(q.numel() for q in m.parameters()) for m in (by_filters, by_feature)],
    "parameters",
)

# %%
# **load_checkpoint needs weights_only=False.** Since torch 2.6, ``torch.load`` only
# unpickles tensors and plain Python types unless told ``weights_only=False``, which can
# run arbitrary code from the file. The book's checkpoints hold its losses as NumPy
# floats (they come from ``np.mean``), which the safe loader refuses. Re-created: a
# checkpoint-like dictionary with NumPy losses, loaded the safe way; then rpsbook's
# :meth:`~rpsbook.trainer.StepByStep.save_checkpoint` and
# :meth:`~rpsbook.trainer.StepByStep.load_checkpoint`, which store plain floats and load
# with ``weights_only=True``:

with tempfile.TemporaryDirectory() as folder:
    book_style = Path(folder) / "book_style.pth"
    torch.save({"losses": [np.float64(0.5), np.float64(0.25)]}, book_style)
    try:
        torch.load(book_style, weights_only=True)
        print("book-style checkpoint: loaded")
    except Exception as error:  # torch raises pickle.UnpicklingError
        print("book-style checkpoint, weights_only=True:", type(error).__name__)

    model = make_model()
    sbs = StepByStep(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), device="cpu")
    sbs.set_loaders(data.train_loader, data.val_loader)
    sbs.train(2, progress=False)
    sbs.save_checkpoint(Path(folder) / "rpsbook.pth")
    restored = StepByStep(make_model(), loss_fn, device="cpu")
    restored.set_optimizer(optim.SGD(restored.model.parameters(), lr=0.1))
    restored.load_checkpoint(Path(folder) / "rpsbook.pth")
    print("rpsbook checkpoint, weights_only=True: losses", np.round(restored.losses, 4))

# %%
# **What an epoch's loss is.** The book's epoch loss is the mean of the mini-batch losses.
# When the last mini-batch is smaller, that differs from the mean over samples, which
# gives every sample the same weight. The regression's 20 validation points come in
# mini-batches of 16 and 4:

model = make_model()
sums, sizes = [], []
with torch.no_grad():
    for x, y in data.val_loader:
        sums.append(nn.MSELoss(reduction="sum")(model(x), y).item())
        sizes.append(len(y))
mean_of_batches = np.mean([s / n for s, n in zip(sums, sizes, strict=True)])
per_sample = sum(sums) / sum(sizes)
sbs = StepByStep(model, loss_fn, optim.SGD(model.parameters(), lr=0.0), device="cpu")
sbs.set_loaders(data.train_loader, data.val_loader)
sbs.train(1, progress=False)  # lr 0: the weights do not move, so the numbers compare
print("mini-batch sizes:", sizes)
print(f"book: mean of the mini-batch losses {mean_of_batches:.4f}")
print(f"mean over samples                   {per_sample:.4f}")
reported = sbs.val_losses[-1]
closest = min(
    (abs(mean_of_batches - reported), "book's"), (abs(per_sample - reported), "per-sample")
)
print(f"rpsbook's val_losses entry: {reported:.4f} (the {closest[1]} definition)")

# %%
# rpsbook's trainer follows the book's definition (the line above says which one the
# trainer that built this page used), so its losses compare with the book's notebook; the
# Model training page shows both definitions on the chapter's validation set.
#
# Summary
# -------
#
# ==========================================  =============================================
# book                                        rpsbook
# ==========================================  =============================================
# "four out of ten" dropped values            eleven inputs; the count printed by the code
# kept values scaled by ``1 / p``             ``1 / (1 - p)`` (what torch does)
# range test ignores ``step_mode``            linear and exponential grids
# range test never sets train mode            train mode during the test, mode restored
# range test leaves the last gradients        gradients restored as they were
# scheduler on another optimizer ignored      ``ValueError`` naming the fix
# warm restarts one epoch out of phase        fractional epochs counted from 0
# exp_range said to shrink per cycle          per iteration (torch's ``scale_mode``)
# three CyclicLR modes on one optimizer       one throwaway optimizer per scheduler
# plateau: reduced lr "in the sixth epoch"    the seventh (torch; printed above)
# a full cycle of 2-10 epochs (Smith)         Smith: half a cycle (``step_size_up``)
# AMSGrad drops bias correction               torch keeps it
# ``lr=0.03`` overwritten by CyclicLR         the optimizer gets the scheduler's base lr
# ``CNN2(n_feature=...)``, defined             ``CNN2(n_filters=...)``, ``n_feature``
# with ``n_filters``                          accepted as another name
# checkpoints need ``weights_only=False``     plain floats, loaded ``weights_only=True``
# epoch loss: mean of mini-batch losses       the same (not the per-sample mean)
# ==========================================  =============================================

# sphinx_gallery_thumbnail_number = 1
plt.show()
