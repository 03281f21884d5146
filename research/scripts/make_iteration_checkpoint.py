"""A trained MOGENT pipeline re-saved with another number of Slot Attention iterations (the weights do not depend on
the count; `measure_slot_iterations.py` measures what it changes): the same weights and scheduler, the config's
`num_slot_iterations` changed, and the validation of `training/train.py` (64 held-out scenes of the training run's
data, its seed) redone, so that `eval_results.json`, `samples.png` and the card's numbers are the new count's.

    python research/scripts/make_iteration_checkpoint.py checkpoints/mogent-small-full \
        runs/mogent-small-full-15-at-test --iterations 15 --steps 20500 --min_objects 3 --max_objects 6

(This made `checkpoints/mogent-small-full-iter15` until session 13; that folder now holds the model trained with 15
iterations, `research/runs/launch_X_iter15_training.sh`.)

The card is `training/train.py`'s card of the source pipeline's training run with the new validation numbers; a
paragraph on how it was made goes below it by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from recipe import RECIPE_FILE, TrainingRecipe  # noqa: E402
from train import validate  # noqa: E402

from mogent_hf import MOGENTModel  # noqa: E402
from mogent_hf.data import SyntheticScenes, collate  # noqa: E402
from mogent_hf.model_card import render_model_card  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a saved MOGENT pipeline directory")
    parser.add_argument("destination", help="the new pipeline directory (must not exist)")
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--simple", action="store_true", help="validation scenes: flat colours, uniform background")
    parser.add_argument("--min_objects", type=int, default=3)
    parser.add_argument("--max_objects", type=int, default=6)
    parser.add_argument("--num_validation_scenes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="the training run's seed (its validation scenes)")
    parser.add_argument("--steps", type=int, required=True, help="training steps of the source, for the card")
    parser.add_argument("--initialised_from", default=None, help="for the card")
    args = parser.parse_args()
    source, destination = Path(args.source), Path(args.destination)
    if destination.exists():
        raise FileExistsError(f"`destination` {destination} exists")
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("README.md", "eval_results.json", "*.png"))
    model = MOGENTModel.from_pretrained(source / "model", num_slot_iterations=args.iterations).eval()
    model.config.save_pretrained(destination / "model")  # the weights file stays the source's, byte for byte
    recipe = TrainingRecipe.from_json_file(source / RECIPE_FILE)

    render = {"simple": True} if args.simple else {}
    scenes = SyntheticScenes("clevr", args.num_validation_scenes, model.config.image_size, args.seed, "test",
                             min_objects=args.min_objects, max_objects=args.max_objects, **render)  # fmt: skip
    batch_size = recipe.train_batch_size
    batches = [collate([scenes[i] for i in range(start, min(start + batch_size, len(scenes)))], model.config.image_size)
               for start in range(0, len(scenes), batch_size)]  # fmt: skip
    validation_args = argparse.Namespace(seed=args.seed, num_grid_images=8)
    metrics, grid = validate(model, batches, validation_args, recipe.tau_end, torch.device("cpu"))
    (destination / "eval_results.json").write_text(json.dumps({"step": args.steps, **metrics}, indent=2))
    grid.save(destination / "samples.png")
    kind = "simple" if args.simple else "textured"
    dataset = (
        f"synthetic-clevr (64 px, {kind}, {args.min_objects}-{args.max_objects} objects, rendered by mogent_hf.data)"
    )
    training = {"steps": args.steps, "batch_size": recipe.train_batch_size, "seed": args.seed, "preset": None,
                "learning_rate": recipe.learning_rate, "mixed_precision": "no",
                "initialised_from": args.initialised_from}  # fmt: skip
    card = render_model_card(model.config, dataset=dataset, metrics=metrics, training=training,
                             model_name=destination.name)  # fmt: skip
    card.save(destination / "README.md")
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()}))


if __name__ == "__main__":
    main()
