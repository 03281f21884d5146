"""Why SLATE's masks score higher mIoU/mBO than MOGENT's in run C (research/results_log.md): for every object of 256
held-out simple scenes, the slot that covers most of it — its recall (share of the object in that slot), its
precision (share of the slot that is the object) and the background share of that slot.

    python research/scripts/measure_mask_precision.py runs/C-mogent runs/C-slate
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from mogent_hf import load_slot_pipeline
from mogent_hf.data import SyntheticScenes


def best_slot_statistics(labels: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """labels, masks (N,H,W) (mask 0 = background) → mean precision, recall, background share over objects."""
    precision, recall, background = [], [], []
    for label, mask in zip(labels, masks, strict=True):
        for obj in np.unique(mask[mask > 0]):
            inside = mask == obj
            slots, counts = np.unique(label[inside], return_counts=True)
            slot = label == slots[counts.argmax()]
            precision.append((slot & inside).sum() / slot.sum())
            recall.append((slot & inside).sum() / inside.sum())
            background.append((slot & (mask == 0)).sum() / slot.sum())
    return {"objects": len(recall), "precision": float(np.mean(precision)), "recall": float(np.mean(recall)),
            "background_share": float(np.mean(background))}  # fmt: skip


def main(paths: list[str]) -> None:
    scenes = SyntheticScenes("clevr", 256, 64, seed=0, split="test", simple=True, min_objects=2, max_objects=4)
    images, masks = scenes.arrays()
    for path in paths:
        pipe = load_slot_pipeline(path)
        pipe.set_progress_bar_config(disable=True)
        with torch.no_grad():
            labels = [pipe.segment(images[i : i + 64], torch.Generator().manual_seed(0)) for i in range(0, 256, 64)]
        print(path, best_slot_statistics(torch.cat(labels).numpy(), masks))


if __name__ == "__main__":
    main(sys.argv[1:])
