"""SLATE's discrete VAE: a 4×4 stride-4 patch conv tokenizer with a relaxed (Gumbel-softmax) bottleneck.

Layout as the official SLATE `dvae.py`: encoder = patch conv + six 1×1 blocks + 1×1 projection to V logits;
decoder = 1×1/3×3 blocks and two PixelShuffle(2) stages back to the image size. `patch_size` 2 (a finer token grid,
ours) makes the patch conv 2×2 stride 2 and keeps one PixelShuffle stage; 4 is SLATE's layout, parameter for parameter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .masking import gumbel_noise


class ConvBlock(nn.Sequential):
    """Conv (no bias) → GroupNorm(1 group) → ReLU, as SLATE's `Conv2dBlock`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.GroupNorm(1, out_channels),
            nn.ReLU(),
        )


def _upsample_stage(hidden: int) -> list[nn.Module]:
    return [
        ConvBlock(hidden, hidden, 3, padding=1),
        ConvBlock(hidden, hidden, 1),
        ConvBlock(hidden, hidden, 1),
        ConvBlock(hidden, hidden * 4, 1),
        nn.PixelShuffle(2),
    ]


class DVAE(nn.Module):
    """Image (B,C,H,W) in [0,1] ↔ V-way code grid (B,V,H/p,W/p), p = `patch_size` (4 in SLATE, or 2)."""

    def __init__(self, vocab_size: int, num_channels: int = 3, hidden_size: int = 64, patch_size: int = 4):
        super().__init__()
        if patch_size not in (2, 4):
            raise ValueError(f"`patch_size` must be 2 or 4, got {patch_size}")
        self.vocab_size = vocab_size
        self.encoder = nn.Sequential(
            ConvBlock(num_channels, hidden_size, patch_size, stride=patch_size),
            *[ConvBlock(hidden_size, hidden_size, 1) for _ in range(6)],
            nn.Conv2d(hidden_size, vocab_size, 1),
        )
        num_stages = patch_size.bit_length() - 1  # log2: one PixelShuffle(2) stage per halving
        upsample_stages = [module for _ in range(num_stages) for module in _upsample_stage(hidden_size)]
        self.decoder = nn.Sequential(
            ConvBlock(vocab_size, hidden_size, 1),
            *upsample_stages,
            nn.Conv2d(hidden_size, num_channels, 1),
        )

    def code_log_probs(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) → log-probabilities over codes (B,V,H/p,W/p)."""
        return F.log_softmax(self.encoder(pixel_values), dim=1)

    def relaxed_codes(
        self, log_probs: torch.Tensor, tau: float, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Gumbel-softmax sample at temperature `tau`: (B,V,h,w) soft one-hot, differentiable. As
        `F.gumbel_softmax(log_probs, tau, hard=False, dim=1)`, with the faster draw of `gumbel_noise` (from
        `generator`, or one per image, when given)."""
        noise = gumbel_noise(tuple(log_probs.shape), generator, log_probs.device).to(log_probs.dtype)
        return ((log_probs + noise) / tau).softmax(dim=1)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B,V,h,w) one-hot or relaxed codes → image (B,C,p·h,p·w)."""
        return self.decoder(codes)

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (B,h,w) long → image (B,C,p·h,p·w), as `decode_codes` of their one-hot codes.

        The decoder's first 1×1 conv of a one-hot code is its weight column for that code, so the columns are looked
        up instead (the same numbers, without building the (B,V,h,w) one-hot: 3.5x faster at V = 4096)."""
        conv, norm, activation = self.decoder[0]
        columns = conv.weight.flatten(1).t()  # (V, hidden)
        hidden = activation(norm(F.embedding(tokens, columns).permute(0, 3, 1, 2)))  # (B,hidden,h,w)
        return self.decoder[1:](hidden)
