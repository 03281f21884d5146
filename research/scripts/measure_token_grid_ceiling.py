"""The best segmentation scores that slot masks at the token grid can reach: an oracle that knows the ground truth.

A MOGENT/SLATE slot mask is a (side × side) attention map over the DVAE tokens, upsampled bilinearly to the image
(`attention_to_masks`). Even a perfect slot encoder cannot draw a boundary finer than a token, so small objects
(a far small sphere is 4–7 px across at 64 px, one or two tokens of 4 × 4 px) get loose masks. This script gives
each ground-truth segment (background included) the fraction of each token that it covers, with the background's
fraction scaled by a weight w (w < 1 lets a token partly covered by an object vote for the object, so that small
objects are not lost), upsamples it as the model does, takes the argmax and scores it with `segmentation_metrics`
on the held-out scenes of `training/evaluate.py`. The best row over w is a lower bound of the ceiling of
FG-ARI / mIoU / FG-mIoU / mBO for masks at that token grid: no slot encoder scores above it by much.

    python research/scripts/measure_token_grid_ceiling.py                       # 64 px full scenes, 3-6 objects
    python research/scripts/measure_token_grid_ceiling.py --simple --min_objects 2 --max_objects 4
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from held_out_scenes import add_scene_arguments, held_out_scenes

from mogent_hf.metrics import segmentation_metrics


def oracle_labels(masks: np.ndarray, side: int, background_weight: float = 1.0) -> np.ndarray:
    """Ground-truth instance maps (N,H,W) (0 = background) → the argmax of their token-grid coverage, the
    background's scaled by `background_weight`, upsampled bilinearly back to (N,H,W)."""
    reference = torch.from_numpy(masks.astype(np.int64))
    one_hot = F.one_hot(reference, int(reference.max()) + 1).permute(0, 3, 1, 2).float()  # (N,S,H,W)
    coverage = F.adaptive_avg_pool2d(one_hot, side)  # (N,S,side,side): fraction of each token per segment
    coverage[:, 0] *= background_weight
    upsampled = F.interpolate(coverage, size=masks.shape[1:], mode="bilinear", align_corners=False)
    return upsampled.argmax(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--downsampling", type=int, nargs="+", default=[4, 2], help="image side / token side")
    parser.add_argument("--background_weights", type=float, nargs="+", default=[1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    add_scene_arguments(parser)
    args = parser.parse_args()
    names = ("fg_ari", "miou", "fg_miou", "mbo")
    print("| image | token grid | background weight | FG-ARI | mIoU | FG-mIoU | mBO |\n|---|---|---|---|---|---|---|")
    for resolution in args.resolutions:
        _, masks = held_out_scenes(args, resolution).arrays()  # (N,H,W) instance ids, 0 = background
        for factor in args.downsampling:
            side = resolution // factor
            rows = {w: segmentation_metrics(oracle_labels(masks, side, w), masks) for w in args.background_weights}
            best = max(rows, key=lambda w: rows[w]["mbo"])
            for w in dict.fromkeys([args.background_weights[0], best]):  # the first weight, then the best for mBO
                row = " | ".join(f"{rows[w][name]:.3f}" for name in names)
                print(f"| {resolution} px | {side} × {side} | {w:g} | {row} |", flush=True)


if __name__ == "__main__":
    main()
