"""Losses beyond torch's own: the Cox partial likelihood."""
from __future__ import annotations

import torch

__all__ = ["cox_partial_nll"]


def cox_partial_nll(log_hazard: torch.Tensor, target: torch.Tensor, ties: str = "efron") -> torch.Tensor:
    """Negative log partial likelihood of a Cox model, averaged over the events.

    Args:
        log_hazard: (n,) or (n, 1) model outputs (log relative hazard).
        target: (n, 2) float tensor of (time, event) rows; event is 1 for an observed event,
            0 for a censored time.
        ties: "efron" (default, the better approximation) or "breslow" for tied event times.

    Vectorised over tie groups (no Python loop): samples sorted by decreasing time, the risk set of
    each distinct time is a prefix sum of exp(log_hazard). Returns 0 when there is no event.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    eta = log_hazard.reshape(-1)
    time, event = target[:, 0], target[:, 1].to(eta.dtype)
    order = torch.argsort(time, descending=True, stable=True)
    eta, time, event = eta[order], time[order], event[order]
    shift = eta.detach().max()  # exp without overflow; cancels out of the likelihood
    e = torch.exp(eta - shift)
    _, group, counts = torch.unique_consecutive(time, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0) - 1  # each distinct time's last position: its whole risk set
    risk = torch.cumsum(e, 0)[last][group]  # sum of exp over {j : T_j >= T_i}, per sample
    if ties == "efron":
        n_groups = counts.shape[0]
        d = torch.zeros(n_groups, dtype=eta.dtype, device=eta.device).index_add(0, group, event)
        tied = torch.zeros(n_groups, dtype=eta.dtype, device=eta.device).index_add(0, group, e * event)
        # The l-th (0-based) event of a tie group removes l/d of the group's tied hazard.
        rank = torch.cumsum(event, 0) - torch.cumsum(d, 0)[group]  # -d_g + (1..d_g) on events
        frac = (rank + d[group] - 1).clamp_min(0) / d[group].clamp_min(1)
        risk = risk - frac * tied[group]
    n_events = event.sum()
    ll = (event * (eta - shift - torch.log(risk))).sum()
    return -ll / n_events.clamp_min(1)
