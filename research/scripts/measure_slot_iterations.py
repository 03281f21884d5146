"""Segmentation of a trained MOGENT pipeline with more Slot Attention iterations at test time than it was trained
with (the weights do not depend on the count): FG-ARI / mIoU / FG-mIoU / mBO on held-out synthetic scenes, the
procedure of `training/evaluate.py`'s Table 2 (at the trained count it gives the same numbers).

    python research/scripts/measure_slot_iterations.py checkpoints/mogent-small-full --min_objects 3 --max_objects 6
    python research/scripts/measure_slot_iterations.py runs/C-mogent --simple --min_objects 2 --max_objects 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from held_out_scenes import add_scene_arguments, held_out_scenes

from mogent_hf import MOGENTModel, pipeline_for_model
from mogent_hf.metrics import segmentation_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="a saved MOGENT pipeline directory")
    parser.add_argument("--iterations", type=int, nargs="+", default=[3, 5, 7, 10])
    add_scene_arguments(parser)
    args = parser.parse_args()
    images, masks = held_out_scenes(args, 64).arrays()  # (N,64,64,3) uint8, (N,64,64)
    print("| Slot Attention iterations | FG-ARI | mIoU | FG-mIoU | mBO |\n|---|---|---|---|---|")
    for iterations in args.iterations:
        model = MOGENTModel.from_pretrained(Path(args.pipeline) / "model", num_slot_iterations=iterations)
        pipe = pipeline_for_model(model.eval())
        pipe.set_progress_bar_config(disable=True)
        with torch.no_grad():
            labels = pipe.segment(images, generator=torch.Generator().manual_seed(0)).numpy()
        metrics = segmentation_metrics(labels, masks)
        print(f"| {iterations} | " + " | ".join(f"{metrics[k]:.3f}" for k in ("fg_ari", "miou", "fg_miou", "mbo"))
              + " |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
