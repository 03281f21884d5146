"""Slot encoder: DVAE tokens → embeddings → Slot Attention → slots (B,K,D) and attention (B,K,L).

Slot Attention (Locatello et al. 2020) as in the official SLATE code, with two initialisations:
"gaussian" (SLATE: slots drawn from a learned Gaussian at every call; in eval mode without a generator, one fixed
draw) and "learned_queries" (Query Slot Attention, BO-QSA, Jia et al. 2023: K learned vectors, perturbed by σ-scaled
Gaussian noise while training, and optionally the bi-level straight-through trick). Each slot's update is the
attention-weighted mean of the values (the paper's) or, with `update_normalization="scaled_sum"`, their weighted sum
over the number of inputs (Krimmel et al., TMLR 2024).
"""

from __future__ import annotations

import torch
from torch import nn

from .masking import gaussian


class SlotAttention(nn.Module):
    """Iterative attention from K slots over N inputs; softmax over slots, then a weighted mean over the inputs (or
    the scaled weighted sum, `update_normalization`)."""

    def __init__(
        self,
        input_size: int,
        slot_size: int,
        mlp_size: int,
        num_slots: int,
        num_iterations: int,
        slot_init: str = "learned_queries",
        bilevel_optimization: bool = True,
        query_noise: str = "additive",
        epsilon: float = 1e-8,
        update_normalization: str = "weighted_mean",
    ):
        super().__init__()
        if update_normalization not in ("weighted_mean", "scaled_sum"):
            raise ValueError(
                f"`update_normalization` must be 'weighted_mean' or 'scaled_sum', got {update_normalization!r}"
            )
        self.update_normalization = update_normalization
        self.num_slots, self.num_iterations, self.slot_size = num_slots, num_iterations, slot_size
        self.slot_init, self.bilevel_optimization, self.query_noise = slot_init, bilevel_optimization, query_noise
        self.epsilon = epsilon
        self.norm_inputs = nn.LayerNorm(input_size)
        self.norm_slots = nn.LayerNorm(slot_size)
        self.norm_mlp = nn.LayerNorm(slot_size)
        self.project_q = nn.Linear(slot_size, slot_size, bias=False)
        self.project_k = nn.Linear(input_size, slot_size, bias=False)
        self.project_v = nn.Linear(input_size, slot_size, bias=False)
        self.gru = nn.GRUCell(slot_size, slot_size)
        self.mlp = nn.Sequential(nn.Linear(slot_size, mlp_size), nn.ReLU(), nn.Linear(mlp_size, slot_size))
        if slot_init == "gaussian":
            self.slot_mu = nn.Parameter(torch.zeros(1, 1, slot_size))
            self.slot_log_sigma = nn.Parameter(torch.zeros(1, 1, slot_size))
        else:
            self.slot_queries = nn.Parameter(torch.zeros(1, num_slots, slot_size))

    def initial_slots(
        self, batch_size: int, sigma: float, generator: torch.Generator | list[torch.Generator] | None
    ) -> torch.Tensor:
        """(B,K,D) starting slots; `generator` is one generator or one per image.

        Gaussian init ignores `sigma`: μ + exp(log σ)·ε with ε drawn from `generator`, or from torch's global RNG in
        training mode. In eval mode without a generator every image gets the same fixed ε (drawn on the CPU with seed
        0, the same on every device), so that encoding is deterministic and does not depend on the batch. (Not μ
        itself: μ is shared by the K slots, and Slot Attention keeps identical starting slots identical.)
        Learned queries get noise of scale `sigma`."""
        if self.slot_init == "gaussian":
            mu, log_sigma = self.slot_mu, self.slot_log_sigma
            shape = (batch_size, self.num_slots, self.slot_size)
            if generator is None and not self.training:
                fixed = torch.Generator().manual_seed(0)
                noise = gaussian(shape[1:], fixed, mu.device).to(mu.dtype).expand(shape)
            else:
                noise = gaussian(shape, generator, mu.device).to(mu.dtype)
            return mu + log_sigma.exp() * noise
        queries = self.slot_queries.expand(batch_size, -1, -1)
        if sigma == 0:
            return queries
        noise = gaussian(tuple(queries.shape), generator, queries.device).to(queries.dtype)
        scale = queries.detach() if self.query_noise == "relative" else 1.0
        return queries + sigma * noise * scale

    def forward(
        self,
        inputs: torch.Tensor,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """inputs (B,N,input_size) → slots (B,K,D), attention of the last iteration (B,K,N) (sums to 1 over K), and
        with `return_logits` that attention's logits (B,K,N) (before the softmax over K)."""
        batch_size = inputs.shape[0]
        inputs = self.norm_inputs(inputs)
        keys = self.project_k(inputs) * self.slot_size**-0.5  # (B,N,D)
        values = self.project_v(inputs)  # (B,N,D)
        slots_init = self.initial_slots(batch_size, sigma, generator)
        slots = slots_init
        straight_through = self.slot_init == "learned_queries" and self.bilevel_optimization
        for iteration in range(self.num_iterations):
            if straight_through and iteration == self.num_iterations - 1:
                # BO-QSA: value of the converged slots, gradient straight to the queries.
                slots = slots.detach() + slots_init - slots_init.detach()
            slots_prev = slots
            queries = self.project_q(self.norm_slots(slots))  # (B,K,D)
            logits = torch.einsum("bnd,bkd->bkn", keys, queries)  # (B,K,N)
            attention = logits.softmax(dim=1)  # over slots
            if self.update_normalization == "weighted_mean":
                weights = attention + self.epsilon
                weights = weights / weights.sum(dim=-1, keepdim=True)
            else:  # scaled sum: a slot's update grows with the share of the inputs it holds
                weights = attention / attention.shape[-1]
            updates = torch.einsum("bkn,bnd->bkd", weights, values)  # (B,K,D)
            slots = self.gru(updates.reshape(-1, self.slot_size), slots_prev.reshape(-1, self.slot_size))
            slots = slots.view(batch_size, self.num_slots, self.slot_size)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return (slots, attention, logits) if return_logits else (slots, attention)


class SlotEncoder(nn.Module):
    """Token embeddings (with positions) → LayerNorm + MLP → Slot Attention."""

    def __init__(self, d_model: int, slot_attention: SlotAttention):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.slot_attention = slot_attention

    def forward(
        self,
        embeddings: torch.Tensor,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """embeddings (B,L,d) → slots (B,K,D), attention (B,K,L) (and its logits (B,K,L) with `return_logits`)."""
        inputs = self.mlp(self.norm(embeddings))
        return self.slot_attention(inputs, sigma=sigma, generator=generator, return_logits=return_logits)
