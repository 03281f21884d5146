"""A small CNN from pixels to features: an optional input of Slot Attention (`slot_input="cnn"` or "tokens_and_cnn").

The paper's slot encoder reads the DVAE token embeddings. With few codes in use, same-coloured objects then have
identical inputs and only the position tells them apart; Slot Attention and SlotDiffusion's SLATE read CNN
features instead. This is that path at CPU size: three 3×3 convolutions and a 1×1 projection to the encoder width.
Their total stride is 4 by default (the DVAE's 4×4 patch grid, where the token position embeddings apply), or 2 or 1
for a finer grid than the tokens' (BO-QSA reads a full-resolution CNN map), whose positions are Slot Attention's soft
position embedding (`SoftPositionEmbedding`), or that add to the token embeddings repeated onto its grid.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvFeatureEncoder(nn.Module):
    def __init__(self, num_channels: int, hidden_size: int, out_size: int, stride: int = 4, zero_output: bool = False):
        """`zero_output`: the last layer starts at zero (the model's `_init_weights` reads its `zero_init`), so that
        the features start as 0, a residual added to another input."""
        super().__init__()
        if stride not in (1, 2, 4):  # two stride-2 convolutions at most
            raise ValueError(f"`stride` must be 1, 2 or 4, got {stride!r}")
        self.stride = stride
        self.layers = nn.Sequential(
            nn.Conv2d(num_channels, hidden_size, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, hidden_size, 3, stride=2 if stride >= 2 else 1, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, hidden_size, 3, stride=2 if stride >= 4 else 1, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, out_size, 1),
        )
        self.layers[-1].zero_init = zero_output

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Images (B,C,H,W) in [0,1] → features (B,N,out_size), N = (H/stride)·(W/stride) in raster order."""
        return self.layers(pixel_values * 2.0 - 1.0).flatten(2).transpose(1, 2)


class SoftPositionEmbedding(nn.Module):
    """Slot Attention's position embedding (Locatello et al. 2020, also BO-QSA's): a learned linear map of each grid
    cell's coordinates (y, x, 1 − y, 1 − x) in [0, 1], added to the features."""

    def __init__(self, hidden_size: int, side: int):
        super().__init__()
        self.side = side
        self.projection = nn.Linear(4, hidden_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B,N,hidden_size), N = side² in raster order → the same with the positions added. The grid is
        built here, not kept as a buffer: `from_pretrained` leaves non-persistent buffers uninitialised."""
        ramp = torch.linspace(0.0, 1.0, self.side, device=features.device, dtype=features.dtype)
        grid = torch.stack(torch.meshgrid(ramp, ramp, indexing="ij"), dim=-1).reshape(-1, 2)  # (N,2): y, x
        return features + self.projection(torch.cat([grid, 1.0 - grid], dim=-1))
