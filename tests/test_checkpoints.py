"""The shipped checkpoints still segment: a regression in the model code (slot attention, DVAE, loading) shows up
as a drop of FG-ARI on freshly rendered held-out scenes. Slow (renders and encodes 64 scenes each):
`pytest -m slow`."""

import json
from pathlib import Path

import pytest
import torch

from mogent_hf import MOGENTPipeline
from mogent_hf.data import SyntheticScenes
from mogent_hf.metrics import segmentation_metrics

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
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
