"""The update terms of SGD (momentum, Nesterov) and Adam, recomputed by hand.

The momentum terms reproduce ``torch.optim.SGD``'s ``momentum_buffer`` and the adapted
gradients Adam's update, with the same tensor operations (see :mod:`rpsbook.ewma`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .averages import _as_series, _like_input, bias_correction, calc_corrected_ewma, calc_ewma


def momentum(past_value: Any, current_value: Any, beta: float) -> Any:
    """One momentum update, the book's function: ``beta * past_value + current_value``.

    A discounted sum, not an average; :func:`calc_momentum` runs it over a series.
    """
    return beta * past_value + current_value


# ---------------------------------------------------------------------------------------------
# optimizer terms


def _check_grads(grads: Tensor) -> Tensor:
    if not isinstance(grads, Tensor) or grads.ndim == 0:
        raise ValueError("grads must be a tensor of shape (n_steps, *param.shape).")
    return grads.detach()


def calc_momentum(values: Any, beta: float, dampening: float = 0.0) -> Tensor | np.ndarray:
    """SGD's momentum buffer after each step, shape ``(n_steps, *shape)``.

    ``momentum_t = beta * momentum_{t-1} + (1 - dampening) * g_t``, a discounted sum (not an
    average). As in ``torch.optim.SGD``, the buffer starts as the first gradient itself, so
    dampening does not apply on step 1 (without dampening this is the book's
    :func:`momentum` started from 0). Gradients are the raw ones (no weight decay).
    ``values``: a tensor ``(n_steps, *shape)`` comes back as a tensor, anything else (the
    book passes NumPy arrays) as a NumPy array.
    """
    grads, is_tensor = _as_series(values)
    buffers: list[Tensor] = []
    for g in grads:
        if not buffers:
            buffers.append(g.clone())
        else:
            buffers.append(buffers[-1].mul(beta).add(g, alpha=1 - dampening))
    return _like_input(torch.stack(buffers) if buffers else grads.clone(), is_tensor)


def calc_nesterov(values: Any, beta: float, dampening: float = 0.0) -> Tensor | np.ndarray:
    """Nesterov's update term ``g_t + beta * momentum_t`` per step, shape ``(n_steps, *shape)``.

    Same arguments and return type as :func:`calc_momentum`.
    """
    grads, is_tensor = _as_series(values)
    momenta = calc_momentum(grads, beta, dampening)
    return _like_input(grads.add(momenta, alpha=beta), is_tensor)


def adapted_gradients(
    grads: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> Tensor:
    """Adam's adapted gradients, shape ``(n_steps, *shape)``.

    ``corrected_ewma(beta1, g) / (sqrt(corrected_ewma(beta2, g ** 2)) + eps)``; Adam updates
    ``param -= lr * adapted``.
    """
    grads = _check_grads(grads)
    if not len(grads):  # no steps, no updates: as calc_ewma does
        return grads.clone()
    beta1, beta2 = betas
    smoothed = calc_corrected_ewma(grads, beta=beta1)
    squares = calc_ewma(grads * grads, beta=beta2)
    # sqrt(v / c) computed as sqrt(v) / sqrt(c), the order torch.optim.Adam uses.
    scale = torch.stack(
        [v.sqrt() / bias_correction(beta2, t) ** 0.5 for t, v in enumerate(squares, start=1)]
    )
    return smoothed / (scale + eps)
