"""Supervised contrastive loss (Khosla et al. 2020; Tóth et al. 2024, eq. 3).

The loss needs the b x b similarity matrix of a batch only for the log-sum-exp denominators;
the positives' term is computed per label in O(b d). The denominators and their gradient are
computed together, one block of rows at a time, by a custom autograd function: each block's
similarities are exponentiated in place in one reused buffer, and its two gradient products are
taken right away, so one training step makes exactly three b x b x d matrix products (the
similarities and their two gradients) and two element-wise passes over them (exp in place, row
sums), instead of materialising several b x b tensors (logits, masks, log-probabilities and
their gradients). Memory: one block buffer (``BLOCK_ELEMENTS`` floats) and one b x d gradient.
"""

from __future__ import annotations

import math

import torch

BLOCK_ELEMENTS = 2**25  # similarities held at once (128 MiB of float32): 2048 rows at b = 16384


def supcon_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.06,
    row_block: int | None = None,
) -> torch.Tensor:
    """Supervised contrastive loss over a batch of L2-normalised embeddings ``z`` (n, d).

    For every anchor ``i`` with at least one positive (same label, ``j != i``)::

        l_i = -1/|P(i)| * sum_{j in P(i)} log( exp(z_i.z_j/t) / sum_{k != i} exp(z_i.z_k/t) )
            = logsumexp_{k != i}(z_i.z_k/t) - z_i.(sum_{j in P(i)} z_j) / (t |P(i)|)

    Anchors without positives are skipped (they stay in the others' denominators). The paper
    sums ``l_i`` over anchors; we return the MEAN over valid anchors (the sum divided by a batch
    constant: same optimum, learning rate independent of batch size). A batch with no valid
    anchor gives a zero that still has a grad.

    The sum over positives is ``z_i . (sum of the z of label(i)) - z_i . z_i``; the
    log-sum-exp terms go through :class:`_WeightedLogSumExp`, ``row_block`` rows at a time
    (default: as many as make ``BLOCK_ELEMENTS`` similarities, at least 256).
    Value and gradient equal the textbook form (masked log-softmax over the full matrix) up to
    float rounding; the gradient is computed during the forward pass when ``z`` needs one.
    """
    if z.ndim != 2 or labels.ndim != 1 or labels.shape[0] != z.shape[0]:
        raise ValueError("expected z of shape (n, d) and labels of shape (n,)")
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if row_block is None:
        row_block = max(256, BLOCK_ELEMENTS // max(z.shape[0], 1))
    if row_block < 1:
        raise ValueError("row_block must be >= 1")
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    n_pos = counts[inverse] - 1
    valid = n_pos > 0
    n_valid = int(valid.sum())
    if n_valid == 0:
        return z.sum() * 0.0
    inv_t = 1.0 / temperature
    # sum over positives of z_i.z_j, per anchor: z_i . (label sum) - z_i . z_i
    label_sums = torch.zeros(counts.shape[0], z.shape[1], dtype=z.dtype, device=z.device).index_add(
        0, inverse, z
    )
    pos_sum = (z * label_sums[inverse]).sum(dim=1) - (z * z).sum(dim=1)
    n_pos = n_pos.to(z.dtype)
    pos_weight = torch.where(valid, inv_t / (n_pos.clamp(min=1.0) * n_valid), 0.0)
    lse_weight = valid.to(z.dtype) / n_valid
    lse_term = _WeightedLogSumExp.apply(z, lse_weight, inv_t, row_block)
    return lse_term - (pos_weight * pos_sum).sum()


class _WeightedLogSumExp(torch.autograd.Function):
    """``sum_i w_i * logsumexp_{k != i}(z_i.z_k * inv_t)`` over the rows with ``w_i != 0``.

    Forward walks the similarity matrix in blocks of rows: ``E = exp(S - m)`` in place in one
    buffer (``m`` a per-row shift), the row sums give the log-sum-exp, and the gradient
    ``inv_t * (diag(c) E z + E^T diag(c) z)`` with ``c = w / rowsum`` is accumulated from the
    same block, so backward only scales it. No shift is needed (``m = 0``) when
    ``|z_i| max|z| * inv_t`` is small enough that ``exp`` can neither overflow nor underflow
    (unit vectors at t = 0.06: 16.7); otherwise ``m`` is the row maximum, as in a plain
    log-sum-exp.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        z: torch.Tensor,
        weights: torch.Tensor,
        inv_t: float,
        row_block: int,
    ) -> torch.Tensor:
        need_grad = ctx.needs_input_grad[0]
        z = z.detach().contiguous()
        b = z.shape[0]
        norms = torch.linalg.vector_norm(z, dim=1)
        bound = float(norms.max()) ** 2 * inv_t  # |z_i.z_k| * inv_t <= bound
        info = torch.finfo(z.dtype)
        safe = min(math.log(info.max), -math.log(info.tiny)) - math.log(max(b, 1)) - 2.0
        shifted = bound > safe
        z_scaled = z * inv_t
        z_t = z.T
        active = weights != 0
        grad = torch.zeros_like(z) if need_grad else None
        total = z.new_zeros(())
        buffer = z.new_empty(min(row_block, b), b)
        for start in range(0, b, row_block):
            stop = min(start + row_block, b)
            block_active = active[start:stop]
            if not bool(block_active.any()):
                continue  # rows without weight only enter others' denominators (as columns)
            e = torch.mm(z_scaled[start:stop], z_t, out=buffer[: stop - start])
            diagonal = e[:, start:stop].diagonal()
            if shifted:
                diagonal.fill_(-math.inf)
                shift = e.amax(dim=1, keepdim=True)
                e.sub_(shift).exp_()
            else:
                e.exp_()
                diagonal.zero_()
            sums = e.sum(dim=1)
            lse = sums.log()
            if shifted:
                lse += shift[:, 0]
            w = weights[start:stop]
            total += (w * lse)[block_active].sum()
            if grad is not None:
                c = torch.where(block_active, w / sums, 0.0)
                grad[start:stop] += c[:, None] * torch.mm(e, z)
                grad.addmm_(e.T, c[:, None] * z[start:stop])
        if grad is not None:
            grad *= inv_t
        ctx.save_for_backward(grad)
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: torch.Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None, None
