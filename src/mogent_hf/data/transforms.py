"""Rows → model inputs: images to float tensors in [0,1] (B,3,H,W), masks to long tensors (B,H,W)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch


def image_to_tensor(image, resolution: int | None = None, normalize: bool = False) -> torch.Tensor:
    """PIL image or uint8 array (H,W,3) → float (3,H,W) in [0,1] ([-1,1] with `normalize`); bilinear resize."""
    if isinstance(image, np.ndarray):
        image = PIL.Image.fromarray(image)
    image = image.convert("RGB")
    if resolution is not None and image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), PIL.Image.BILINEAR)
    tensor = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1)
    return tensor * 2 - 1 if normalize else tensor


def mask_to_tensor(mask, resolution: int | None = None) -> torch.Tensor:
    """PIL mask (mode L) or uint8 array (H,W) → long (H,W); nearest resize (labels are never blended)."""
    if isinstance(mask, np.ndarray):
        mask = PIL.Image.fromarray(mask)
    if resolution is not None and mask.size != (resolution, resolution):
        mask = mask.resize((resolution, resolution), PIL.Image.NEAREST)
    return torch.from_numpy(np.asarray(mask, np.int64).copy())


def collate(rows: list[dict], resolution: int | None = None) -> dict[str, torch.Tensor]:
    """Rows with "image" (and optionally "mask") → {"pixel_values": (B,3,H,W), "masks": (B,H,W)}."""
    if not rows:
        raise ValueError("`rows` is empty")
    if "image" not in rows[0]:
        raise ValueError(f"rows need an 'image' column, got {sorted(rows[0])}")
    batch = {"pixel_values": torch.stack([image_to_tensor(row["image"], resolution) for row in rows])}
    if "mask" in rows[0] and rows[0]["mask"] is not None:
        batch["masks"] = torch.stack([mask_to_tensor(row["mask"], resolution) for row in rows])
    return batch
