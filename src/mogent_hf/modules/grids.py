"""Maps over square grids flattened in raster order (B,K,N), N = side²: the token grid, or Slot Attention's finer CNN
grid (`slot_input_stride`): their side, and one resized onto another's grid."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def grid_side(num_cells: int) -> int:
    """N → its side, for a square grid of N cells; a ValueError for any other N."""
    side = math.isqrt(num_cells)
    if side * side != num_cells:
        raise ValueError(f"expected maps over a square grid (N = side²), got N = {num_cells}")
    return side


def resize_grid(maps: torch.Tensor, num_cells: int) -> torch.Tensor:
    """maps (B,K,N) → (B,K,num_cells), the grid resized bilinearly (unchanged when N = num_cells). Bilinear weights
    sum to 1, so maps that sum to 1 over K still do."""
    if maps.shape[-1] == num_cells:
        return maps
    side = grid_side(num_cells)
    grid = maps.unflatten(-1, (grid_side(maps.shape[-1]),) * 2)
    return F.interpolate(grid, size=(side, side), mode="bilinear", align_corners=False).flatten(-2)
