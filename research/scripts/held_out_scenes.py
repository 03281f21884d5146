"""The held-out synthetic CLEVR-like scenes of `training/evaluate.py` for the measure_*.py scripts beside it: the
same command-line options and the same scenes (the "test" split of the seed's stream)."""

from __future__ import annotations

import argparse

from mogent_hf.data import SyntheticScenes


def add_scene_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--simple", action="store_true", help="flat colours, uniform background")
    parser.add_argument("--min_objects", type=int, default=3)
    parser.add_argument("--max_objects", type=int, default=6)
    parser.add_argument("--num_images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)


def held_out_scenes(args: argparse.Namespace, resolution: int) -> SyntheticScenes:
    render = {"simple": True} if args.simple else {}
    return SyntheticScenes("clevr", args.num_images, resolution, seed=args.seed, split="test",
                           min_objects=args.min_objects, max_objects=args.max_objects, **render)  # fmt: skip
