"""Pictures people would rather look at than read: slot label maps coloured over the image, and grids of images."""

from __future__ import annotations

import colorsys

import numpy as np
import PIL.Image
import torch


def slot_palette(num_colours: int) -> torch.Tensor:
    """(num_colours, 3) distinct, saturated colours in [0,1] (evenly spaced hues)."""
    return torch.tensor([colorsys.hsv_to_rgb(i / num_colours, 0.85, 1.0) for i in range(num_colours)])


def overlay_labels(images: torch.Tensor, labels: torch.Tensor, alpha: float = 0.55) -> torch.Tensor:
    """Colours each pixel of `images` (B,3,H,W) in [0,1] by its slot in `labels` (B,H,W) long; returns (B,3,H,W)."""
    if images.ndim != 4 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"`labels` must have shape (B,H,W) = {(images.shape[0], *images.shape[2:])}, got "
                         f"{tuple(labels.shape)}")  # fmt: skip
    palette = slot_palette(int(labels.max()) + 1).to(images.device, images.dtype)
    colours = palette[labels].permute(0, 3, 1, 2)  # (B,3,H,W)
    return (1 - alpha) * images + alpha * colours


def image_grid(columns: list[torch.Tensor], scale: int = 1, padding: int = 2) -> PIL.Image.Image:
    """Columns of images (each (B,3,H,W) in [0,1], same shapes) → one PIL image with B rows, white padding."""
    if not columns:
        raise ValueError("`columns` is empty")
    batch, _, height, width = columns[0].shape
    for column in columns:
        if column.shape != columns[0].shape:
            raise ValueError(f"all columns must have shape {tuple(columns[0].shape)}, got {tuple(column.shape)}")
    cell_h, cell_w = height * scale + padding, width * scale + padding
    canvas = np.ones((batch * cell_h + padding, len(columns) * cell_w + padding, 3), np.float32)
    for j, column in enumerate(columns):
        pixels = column.detach().float().clamp(0, 1).cpu()
        if scale > 1:
            pixels = pixels.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        for i in range(batch):
            top, left = padding + i * cell_h, padding + j * cell_w
            canvas[top : top + height * scale, left : left + width * scale] = pixels[i].permute(1, 2, 0).numpy()
    return PIL.Image.fromarray((canvas * 255).round().astype(np.uint8))
