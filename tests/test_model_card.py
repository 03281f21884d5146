"""The model card a run writes: Hub metadata, the recipe the run used (not the preset's), the real location in its
usage snippet, and huggingface_hub's card validation through the loopback Hub."""

import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "training"))
sys.path.append(str(ROOT / "tests"))
import train  # noqa: E402
from recipe import RECIPE_FILE, TrainingRecipe  # noqa: E402
from test_hub_data import hub_environment, validate_cards  # noqa: E402
from test_training import fresh_accelerate_state  # noqa: E402, F401  (autouse: a fresh accelerate state per test)

from mogent_hf import MOGENTConfig  # noqa: E402
from mogent_hf.model_card import is_hub_id, render_model_card  # noqa: E402


def recipe_table(card: ModelCard) -> dict:
    section = card.text.split("## Training recipe (as run)")[1].split("##")[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")][1:]
    return {name.strip(): value.strip() for name, value in rows}


def test_a_runs_card_holds_the_values_the_run_used_and_its_output_path(tmp_path):
    out = tmp_path / "my-run"
    # the tiny preset says warm-up 10 and τ annealing 30 steps; this run uses 3 and 5
    train.main(["--preset", "tiny", "--synthetic", "clevr", "--num_train_scenes", "16", "--num_validation_scenes", "4",
                "--train_batch_size", "4", "--lr_warmup_steps", "3", "--annealing_steps", "5", "--learning_rate",
                "0.002", "--max_train_steps", "6", "--num_grid_images", "2", "--output_dir", str(out)])  # fmt: skip
    card = ModelCard.load(out / "README.md")
    used = recipe_table(card)
    assert used["warmup_steps"] == "3" and used["tau_annealing_steps"] == "5" and used["sigma_annealing_steps"] == "5"
    assert used["total_steps"] == "6" and used["learning_rate"] == "0.002" and used["batch_size"] == "4"
    preset = TrainingRecipe.from_preset("tiny")
    assert (preset.warmup_steps, preset.tau_annealing_steps, preset.learning_rate) == (10, 30, 1e-3)
    recorded = TrainingRecipe.from_json_file(out / RECIPE_FILE)  # next to the pipeline, as the card says
    assert recorded == TrainingRecipe.from_preset("tiny", train_batch_size=4, warmup_steps=3, learning_rate=0.002,
                                                  tau_annealing_steps=5, sigma_annealing_steps=5)  # fmt: skip
    architecture = card.text.split("## Configuration (architecture)")[1]
    assert "warmup_steps" not in architecture and "tau_annealing_steps" not in architecture
    assert '"num_slots"' in architecture
    assert f'MOGENTPipeline.from_pretrained("{out}")' in card.text
    metadata = card.data.to_dict()
    assert metadata["library_name"] == "mogent_hf" and metadata["pipeline_tag"] == "image-segmentation"
    assert {"object-centric", "slot-attention", "mogent", "unconditional-image-generation"} <= set(metadata["tags"])
    assert metadata["license"] == "mit" and "datasets" not in metadata and "base_model" not in metadata
    assert [r.metric_type for r in card.data.eval_results] == ["fg_ari", "miou", "fg_miou", "mbo"]


def test_card_metadata_names_hub_datasets_and_base_models_and_passes_card_validation(fake_hub, tmp_path):
    config = MOGENTConfig.from_preset("tiny")
    metrics = {"fg_ari": 0.5, "miou": 0.25, "loss": 1.0}
    card = render_model_card(config, dataset="org/clevr-masks", metrics=metrics, training={"steps": 2},
                             model_name="tuned", location="org/tuned", base_model="org/mogent-base")  # fmt: skip
    metadata = card.data.to_dict()
    assert metadata["datasets"] == ["org/clevr-masks"] and metadata["base_model"] == "org/mogent-base"
    assert metadata["model-index"][0]["results"][0]["dataset"]["type"] == "org/clevr-masks"
    local = render_model_card(config, dataset="synthetic-clevr", metrics={}, training={"steps": 2},
                              model_name="run", location="runs/run", base_model=str(tmp_path))  # fmt: skip
    assert "datasets" not in local.data.to_dict() and "base_model" not in local.data.to_dict()
    assert 'MOGENTPipeline.from_pretrained("org/tuned")' in card.text
    broken = str(card).replace("      value: 0.5\n", "")  # a model-index metric without its value
    env = hub_environment(fake_hub, tmp_path)
    assert validate_cards([str(card), str(local), broken], "model", env) == ["valid", "valid", "ValueError"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("org/name", True),
        ("synthetic-clevr", False),
        (None, False),
        ("runs/a/b", False),
        ("synthetic clevr", False),
        (".", False),
    ],
)
def test_is_hub_id_tells_repo_ids_from_paths(name, expected):
    assert is_hub_id(name) is expected
