"""Draws docs/trained_model.png from the shipped checkpoint: held-out synthetic scenes, their slot masks, a
reconstruction from half of the tokens, an object swapped between two scenes and an object removed.

    python research/scripts/make_trained_model_figure.py [--pipeline checkpoints/mogent-small] \
        [--out docs/trained_model.png]
    python research/scripts/make_trained_model_figure.py --pipeline checkpoints/mogent-small-full-iter15 --full_scenes \
        --out docs/trained_model_full.png     # textured scenes with 3-6 objects
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mogent_hf import MOGENTPipeline
from mogent_hf.data import SyntheticScenes, collate
from mogent_hf.visualization import image_grid, overlay_labels

ROOT = Path(__file__).resolve().parents[2]


def object_slot(labels: torch.Tensor) -> int:
    """The slot holding the most pixels among all but the largest (the background) in a label map (H,W)."""
    counts = torch.bincount(labels.flatten(), minlength=int(labels.max()) + 1)
    order = counts.argsort(descending=True)
    return int(order[1]) if counts[order[1]] > 0 else int(order[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipeline", default=str(ROOT / "checkpoints" / "mogent-small"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "trained_model.png"))
    parser.add_argument("--num_pairs", type=int, default=4)
    parser.add_argument("--full_scenes", action="store_true", help="textured scenes with 3-6 objects (default: "
                        "simple scenes with up to 4)")  # fmt: skip
    args = parser.parse_args()

    pipe = MOGENTPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.model.config.image_size
    render = dict(min_objects=3, max_objects=6) if args.full_scenes else dict(simple=True, max_objects=4)
    scenes = SyntheticScenes("clevr", 2 * args.num_pairs, size, seed=0, split="test", **render)
    images = collate([scenes[i] for i in range(len(scenes))])["pixel_values"]
    images_a, images_b = images[: args.num_pairs], images[args.num_pairs :]
    labels_a, labels_b = pipe.segment(images_a), pipe.segment(images_b)
    generator = torch.Generator().manual_seed(0)
    halves = pipe(images=images_a, mask_ratio=0.5, output_type="pt", generator=generator).images
    swapped, removed = [], []
    for k in range(args.num_pairs):
        i, j = object_slot(labels_a[k]), object_slot(labels_b[k])
        edit = pipe.edit(images_a[k : k + 1], images_b[k : k + 1], swap=[(i, j)], output_type="pt",
                         generator=torch.Generator().manual_seed(k)).images  # fmt: skip
        swapped.append(edit)
        removed.append(pipe.remove(images_a[k : k + 1], slot_index=i, output_type="pt",
                                   generator=torch.Generator().manual_seed(k)).images)  # fmt: skip
    swapped = torch.cat(swapped)
    columns = [
        images_a,
        overlay_labels(images_a, labels_a),
        halves,
        images_b,
        overlay_labels(images_b, labels_b),
        swapped[0::2],
        swapped[1::2],
        torch.cat(removed),
    ]
    image_grid(columns, scale=2).save(args.out)
    print(f"wrote {args.out}: A | A slots | A from 50% of its tokens | B | B slots | A, B with one object swapped | "
          "A with that object removed")  # fmt: skip


if __name__ == "__main__":
    main()
