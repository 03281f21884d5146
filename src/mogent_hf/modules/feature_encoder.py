"""A small CNN from pixels to features on the token grid: an optional input of Slot Attention (`slot_input="cnn"`).

The paper's slot encoder reads the DVAE token embeddings. With few codes in use, same-coloured objects then have
identical inputs and only the position tells them apart; Slot Attention and SlotDiffusion's SLATE read CNN
features instead. This is that path at CPU size: three 3×3 convolutions (two of stride 2, down to the 4×4 patch
grid of the DVAE) and a 1×1 projection to the encoder width.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvFeatureEncoder(nn.Module):
    def __init__(self, num_channels: int, hidden_size: int, out_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(num_channels, hidden_size, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, hidden_size, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, hidden_size, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_size, out_size, 1),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Images (B,C,H,W) in [0,1] → features (B,L,out_size), L = (H/4)·(W/4) in raster order, as the tokens."""
        return self.layers(pixel_values * 2.0 - 1.0).flatten(2).transpose(1, 2)
