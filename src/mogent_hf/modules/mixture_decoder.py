"""An auxiliary token decoder in which the slot masks compete (`mixture_loss_weight` > 0; not part of the paper).

The transformer decoder reads the slots by cross-attention, so nothing in its loss cares which slot a token was
assigned to by Slot Attention: a floor token next to an object may go to the object's slot at no cost, and the slot
masks grow blobs around the objects (docs/results.md, "Where the masks lose"). The Slot Attention autoencoder has
the pressure that is missing here: each slot decodes the image on its own and the masks mix the slots' decodings,
so a pixel is best explained by the slot that predicts it best. This module is that mixture at the token level:

    p(token_n) = Σ_k attention[k, n] · softmax(MLP(W·slot_k + position_n))[token_n]

and its loss, −mean_n log p(token_n), reaches the Slot Attention weights directly. One shared MLP broadcast over
the token grid (a spatial broadcast decoder on tokens), trained beside the main decoder and unused at inference.
Without positions (`use_positions=False`) each slot predicts one distribution over the codes for all its tokens:
a slot that takes a token of another kind (floor beside an object) pays for it, wherever the token lies.
With `background_slot=k` (and no positions for the others) slot k alone predicts by position: a background whose
codes vary over the image (a floor with a brightness gradient) is explained by that one slot better than by any
other, so the background's tokens gather there instead of being split between slots (needs learned slot queries,
so that slot k is the same slot in every image).
Position-free slots explain objects of one colour equally well whether they hold one or several of them (a slot of
run R's first stage held both objects of 47% of same-coloured pairs; docs/results.md). With `spatial=True` each slot
also explains where its tokens lie, by a Gaussian over the token grid with the attention-weighted mean and variance
(per axis) of the slot's tokens, normalised over the grid: p_k(token_n) becomes p_k(code_n) · p_k(position_n), and
a slot that holds two distant objects explains each of them worse than two slots would. The background slot, if
any, is uniform over the grid (a Gaussian would reward cutting the background into compact pieces).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def replace_slot(per_slot: torch.Tensor, k: int, row: torch.Tensor) -> torch.Tensor:
    """per_slot (B,K,...) with slot k replaced by row (B,1,...), out of place (autograd-safe on expanded views)."""
    return torch.cat([per_slot[:, :k], row, per_slot[:, k + 1 :]], dim=1)


class SlotMixtureTokenDecoder(nn.Module):
    """Slots (B,K,slot_size) + their attention (B,K,L) + tokens (B,L) → −mean log-likelihood of the tokens ()."""

    def __init__(
        self,
        slot_size: int,
        hidden_size: int,
        num_tokens: int,
        vocab_size: int,
        use_positions: bool = True,
        background_slot: int | None = None,
        spatial: bool = False,
        grid_width: int | None = None,
    ):
        super().__init__()
        if use_positions and background_slot is not None:
            raise ValueError("`background_slot` needs `use_positions=False` (positions for that slot only)")
        self.num_tokens, self.use_positions, self.background_slot = num_tokens, use_positions, background_slot
        self.spatial = spatial
        if spatial:
            width = grid_width or round(num_tokens**0.5)
            if num_tokens % width:
                raise ValueError(f"`grid_width` must divide `num_tokens` ({num_tokens}), got {width}")
            rows, cols = torch.arange(num_tokens) // width, torch.arange(num_tokens) % width
            grid = torch.stack([rows / max(num_tokens // width - 1, 1), cols / max(width - 1, 1)], dim=-1)
            self.register_buffer("grid", grid * 2 - 1, persistent=False)  # (L,2) in [-1, 1]
            self.min_variance = (1.0 / width) ** 2
        self.slot_projection = nn.Linear(slot_size, hidden_size)
        self.position_embedding = None
        if use_positions or background_slot is not None:
            self.position_embedding = nn.Parameter(torch.zeros(1, 1, num_tokens, hidden_size))
        self.mlp = nn.Sequential(
            nn.ReLU(),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, vocab_size),
        )

    def slot_log_probs(self, slots: torch.Tensor) -> torch.Tensor:
        """slots (B,K,slot_size) → each slot's own prediction of every token, log-probabilities (B,K,L,V)."""
        hidden = self.slot_projection(slots)[:, :, None]  # (B,K,1,h)
        if self.use_positions:
            hidden = hidden + self.position_embedding  # (B,K,L,h)
        log_probs = self.mlp(hidden).float().log_softmax(dim=-1).expand(-1, -1, self.num_tokens, -1)
        k = self.background_slot
        if k is not None:  # slot k by position (B,1,L,V), the others as before
            if not 0 <= k < slots.shape[1]:
                raise ValueError(f"`background_slot` must be in [0, {slots.shape[1]}), got {k}")
            background = self.mlp(hidden[:, k : k + 1] + self.position_embedding).float().log_softmax(dim=-1)
            log_probs = replace_slot(log_probs, k, background)
        return log_probs

    def position_log_probs(self, attention: torch.Tensor) -> torch.Tensor:
        """attention (B,K,L) → log p_k(position_n) (B,K,L): per slot, a Gaussian with the attention-weighted mean
        and per-axis variance of the grid positions (at least one token's), normalised over the L positions; the
        background slot, if any, uniform over the grid."""
        weights = attention.float() / attention.float().sum(dim=-1, keepdim=True).clamp_min(1e-12)  # (B,K,L)
        mean = weights @ self.grid  # (B,K,2)
        offsets = self.grid - mean[:, :, None]  # (B,K,L,2)
        variance = (weights[..., None] * offsets.square()).sum(dim=2) + self.min_variance  # (B,K,2)
        log_probs = (-0.5 * offsets.square() / variance[:, :, None]).sum(dim=-1).log_softmax(dim=-1)
        k = self.background_slot
        if k is not None:  # the background may lie anywhere: uniform over the grid
            uniform = log_probs.new_full(log_probs[:, k : k + 1].shape, -math.log(self.num_tokens))
            log_probs = replace_slot(log_probs, k, uniform)
        return log_probs

    def log_joint(self, slots: torch.Tensor, attention: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log(attention[k, n] · p_k(token_n)) (B,K,L) for slots (B,K,slot_size), attention (B,K,L), tokens (B,L);
        with `spatial`, p_k(token_n) = p_k(code_n) · p_k(position_n)."""
        log_probs = self.slot_log_probs(slots)  # (B,K,L,V)
        index = tokens[:, None, :, None].expand(-1, log_probs.shape[1], -1, 1)  # (B,K,L,1)
        token_log_probs = log_probs.gather(-1, index).squeeze(-1)  # (B,K,L)
        if self.spatial:
            token_log_probs = token_log_probs + self.position_log_probs(attention)
        return attention.float().clamp_min(1e-12).log() + token_log_probs

    def forward(self, slots: torch.Tensor, attention: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """slots (B,K,slot_size), attention (B,K,L) summing to 1 over K, tokens (B,L) long → −mean log p(tokens) ()."""
        return -torch.logsumexp(self.log_joint(slots, attention, tokens), dim=1).mean()

    def posterior(self, slots: torch.Tensor, attention: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Which slot explains each token, attention reweighted by the slots' predictions: (B,K,L), sums to 1 over K."""
        return self.log_joint(slots, attention, tokens).softmax(dim=1)
