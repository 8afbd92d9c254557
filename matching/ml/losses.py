"""Supervised contrastive loss (Tóth et al. 2024, eq. 3)."""

from __future__ import annotations

import torch


def supcon_loss(
    z: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.06
) -> torch.Tensor:
    """Supervised contrastive loss over a batch of L2-normalised embeddings ``z`` (n, d).

    For every anchor ``i`` with at least one positive (same label, ``j != i``)::

        l_i = -1/|P(i)| * sum_{j in P(i)} log( exp(z_i.z_j/t) / sum_{k != i} exp(z_i.z_k/t) )

    Anchors without positives are skipped. The paper sums ``l_i`` over anchors; we return the
    MEAN over valid anchors (the sum divided by a batch constant: same optimum, learning rate
    independent of batch size). A batch with no valid anchor gives a zero that still has a grad.
    """
    if z.ndim != 2 or labels.ndim != 1 or labels.shape[0] != z.shape[0]:
        raise ValueError("expected z of shape (n, d) and labels of shape (n,)")
    n = z.shape[0]
    logits = (z @ z.T) / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = positives.sum(dim=1)
    valid = n_pos > 0
    if not bool(valid.any()):
        return z.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    per_anchor = -pos_log_prob[valid] / n_pos[valid]
    return per_anchor.mean()
