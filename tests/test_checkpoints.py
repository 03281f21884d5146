"""The shipped checkpoints still segment: a regression in the model code (slot attention, DVAE, loading) shows up
as a drop of FG-ARI on freshly rendered held-out scenes (slow: renders and encodes 64 scenes each, `pytest -m slow`).
They hold the architecture in their config and the recipe they were trained with in training_args.json; a config
saved with the recipe in it loads the same model."""

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from mogent_hf import MOGENTPipeline
from mogent_hf.data import SyntheticScenes
from mogent_hf.metrics import segmentation_metrics

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "training"))
from recipe import RECIPE_FILE, TrainingRecipe  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
RECIPE_FIELDS = tuple(field.name for field in dataclasses.fields(TrainingRecipe))
# checkpoints/mogent-small/model/config.json as first saved, when configs still held the training recipe
CONFIG_WITH_RECIPE = Path(__file__).parent / "data" / "mogent_small_config_with_recipe.json"
# Each checkpoint with the scenes of the validation that wrote its eval_results.json: training/train.py with
# --synthetic clevr, these renderer options, --num_validation_scenes 64 --seed 0.
SCENES = {
    "mogent-small": dict(simple=True, min_objects=2, max_objects=4),  # --synthetic_simple --min/max_objects 2 4
    "mogent-small-full": dict(min_objects=3, max_objects=6),  # textured scenes, --min/max_objects 3 6
    "mogent-small-full-iter15": dict(min_objects=3, max_objects=6),  # mogent-small-full trained on with 15 iterations
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENES))
def test_shipped_checkpoint_segments_held_out_scenes_as_its_card_says(name):
    measured = json.loads((CHECKPOINTS / name / "eval_results.json").read_text())
    scenes = SyntheticScenes("clevr", 64, 64, seed=0, split="test", **SCENES[name])
    images, masks = scenes.arrays()  # (64,64,64,3) uint8, as a user passes arrays; (64,64,64)
    pipe = MOGENTPipeline.from_pretrained(CHECKPOINTS / name)
    with torch.no_grad():
        labels = pipe.segment(images, generator=torch.Generator().manual_seed(0), mask_source="slot_attention").numpy()
    metrics = segmentation_metrics(labels, masks)
    assert metrics["fg_ari"] >= measured["fg_ari"] - 0.05, metrics
    assert metrics["mbo"] >= measured["mbo"] - 0.05, metrics


def test_shipped_checkpoints_save_the_architecture_in_their_config_and_their_recipe_beside_it():
    for name in SCENES:
        config = json.loads((CHECKPOINTS / name / "model" / "config.json").read_text())
        assert not set(RECIPE_FIELDS) & set(config), name
        recipe = TrainingRecipe.from_json_file(CHECKPOINTS / name / RECIPE_FILE)
        assert (recipe.train_batch_size, recipe.learning_rate, recipe.dvae_learning_rate) == (32, 4e-4, 1e-3), name


def test_a_config_with_the_training_recipe_loads_the_shipped_weights_with_the_same_outputs(tmp_path):
    with_recipe = tmp_path / "mogent-small"
    shutil.copytree(CHECKPOINTS / "mogent-small", with_recipe)
    shutil.copy(CONFIG_WITH_RECIPE, with_recipe / "model" / "config.json")
    images, _ = SyntheticScenes("clevr", 4, 64, seed=0, split="test", **SCENES["mogent-small"]).arrays()
    pixel_values = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    outputs, configs = [], []
    for folder in (with_recipe, CHECKPOINTS / "mogent-small"):
        pipe = MOGENTPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        configs.append({key: value for key, value in pipe.model.config.to_dict().items() if key != "_name_or_path"})
        with torch.no_grad():
            loss = pipe.model(pixel_values, tau=0.5, sigma=0.5, generator=torch.Generator().manual_seed(0)).loss
            decoded = pipe(images=images, mask_ratio=0.5, generator=torch.Generator().manual_seed(1), output_type="pt")
        labels = pipe.segment(images, generator=torch.Generator().manual_seed(2))
        outputs.append((loss, decoded.images, labels))
    assert configs[0] == configs[1]
    for old, new in zip(*outputs):
        torch.testing.assert_close(old, new, rtol=0, atol=0)
