import dataclasses
import json
import logging
import shutil
import sys
import warnings
from pathlib import Path

import pytest
from transformers import AutoConfig

from mogent_hf import MOGENTConfig, SLATEConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "training"))
from recipe import RECIPE_FILE, TrainingRecipe  # noqa: E402

RECIPE_FIELDS = tuple(field.name for field in dataclasses.fields(TrainingRecipe))

# A config.json saved while configs carried the training recipe (the shipped mogent-small's, as first saved).
CONFIG_WITH_RECIPE = Path(__file__).parent / "data" / "mogent_small_config_with_recipe.json"

TABLE_6 = {
    "3dshapes": dict(
        train_batch_size=50, num_train_epochs=80, warmup_steps=30000, learning_rate=1e-4, max_grad_norm=1.0,
        image_size=64, num_tokens=256, vocab_size=1024, tau_start=1.0, tau_end=0.1, tau_annealing_steps=30000,
        dvae_learning_rate=3e-4, num_slots=3, num_slot_iterations=3, slot_size=192, slot_mlp_size=192,
        sigma_annealing_steps=30000, num_decoder_layers=4, num_heads=8, d_model=192, mlp_hidden_size=192,
    ),
    "clevr": dict(
        train_batch_size=64, num_train_epochs=400, warmup_steps=21860, learning_rate=1e-4, max_grad_norm=1.0,
        image_size=128, num_tokens=1024, vocab_size=4096, tau_start=1.0, tau_end=0.1, tau_annealing_steps=65580,
        dvae_learning_rate=3e-4, num_slots=12, num_slot_iterations=3, slot_size=192, slot_mlp_size=384,
        sigma_annealing_steps=65580, num_decoder_layers=8, num_heads=8, d_model=192, mlp_hidden_size=192,
    ),
}  # fmt: skip


@pytest.mark.parametrize("preset", ["3dshapes", "clevr"])
def test_table_6_is_the_presets_architecture_plus_their_training_recipe_field_by_field(preset):
    config, recipe = MOGENTConfig.from_preset(preset), TrainingRecipe.from_preset(preset)
    for field, value in TABLE_6[preset].items():
        assert getattr(recipe if field in RECIPE_FIELDS else config, field) == value, field
    assert recipe.sigma_start == 1.0
    assert config.slot_init == "learned_queries" and config.bilevel_optimization
    assert config.zero_mask_init and config.loss_on_masked_only and config.mask_schedule == "cosine"


@pytest.mark.parametrize("config_cls", [MOGENTConfig, SLATEConfig])
def test_configs_hold_and_save_the_architecture_only(config_cls, tmp_path):
    config = config_cls.from_preset("clevr")
    assert not [name for name in RECIPE_FIELDS if hasattr(config, name)]
    config.save_pretrained(tmp_path)
    assert not set(RECIPE_FIELDS) & set(json.loads((tmp_path / "config.json").read_text()))
    with pytest.raises(ValueError, match="learning_rate.*TrainingRecipe"):
        config_cls.from_preset("tiny", learning_rate=1e-3)


def test_a_config_saved_with_the_training_recipe_loads_without_warnings_and_without_it(tmp_path, caplog):
    shutil.copy(CONFIG_WITH_RECIPE, tmp_path / "config.json")
    saved = json.loads(CONFIG_WITH_RECIPE.read_text())
    assert set(RECIPE_FIELDS) <= set(saved)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        loaded = [MOGENTConfig.from_pretrained(tmp_path), AutoConfig.from_pretrained(tmp_path)]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    for config in loaded:
        assert type(config) is MOGENTConfig
        assert not [name for name in RECIPE_FIELDS if hasattr(config, name)]
        assert (config.num_slots, config.d_model, config.vocab_size, config.dropout) == (5, 64, 64, 0.0)
        config.save_pretrained(tmp_path / "resaved")
        resaved = json.loads((tmp_path / "resaved" / "config.json").read_text())
        assert not set(RECIPE_FIELDS) & set(resaved)
        kept = set(saved) - set(RECIPE_FIELDS) - {"transformers_version"}
        assert {key: resaved[key] for key in kept} == {key: saved[key] for key in kept}


def test_recipe_presets_overrides_and_training_args_json_round_trip(tmp_path):
    recipe = TrainingRecipe.from_preset("small", learning_rate=1e-3, tau_start=0.1)
    assert (recipe.train_batch_size, recipe.learning_rate, recipe.tau_start) == (32, 1e-3, 0.1)
    assert recipe.save(tmp_path) == tmp_path / RECIPE_FILE
    assert TrainingRecipe.from_json_file(tmp_path / RECIPE_FILE) == recipe
    assert TrainingRecipe.from_preset("small") == TrainingRecipe.from_preset("small")  # presets are not changed
    with pytest.raises(ValueError, match="tau_start"):
        TrainingRecipe.from_preset("tiny", tau_start=0.05)
    with pytest.raises(ValueError, match="preset"):
        TrainingRecipe.from_preset("imagenet")
    for preset in MOGENTConfig.preset_names():  # every architecture preset has its recipe
        assert isinstance(TrainingRecipe.from_preset(preset), TrainingRecipe)


def test_slate_presets_keep_official_decoder_and_gaussian_slots():
    config = SLATEConfig.from_preset("3dshapes")
    assert (config.num_heads, config.mlp_hidden_size, config.slot_init) == (4, 768, "gaussian")
    assert config.num_slots == 3 and config.vocab_size == 1024


def test_preset_overrides_win():
    assert MOGENTConfig.from_preset("clevr", num_slots=7).num_slots == 7


def test_config_round_trips_through_json(tmp_path):
    config = MOGENTConfig.from_preset("tiny", position_encoding="rope")
    config.save_pretrained(tmp_path)
    loaded = MOGENTConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(image_size=62), "image_size"),
        (dict(dvae_patch_size=3), "dvae_patch_size"),
        (dict(image_size=34, dvae_patch_size=4), "image_size"),
        (dict(slot_input="cnn", dvae_patch_size=2), "dvae_patch_size"),
        (dict(d_model=30, num_heads=4), "d_model"),
        (dict(position_encoding="sinusoid"), "position_encoding"),
        (dict(slot_init="random"), "slot_init"),
        (dict(slot_input="pixels"), "slot_input"),
        (dict(slot_input="cnn", slot_input_stride=3), "slot_input_stride"),
        (dict(slot_input="tokens_and_cnn", dvae_patch_size=2), "dvae_patch_size"),
        (dict(slot_input_stride=2), "slot_input_stride"),  # a CNN grid without the CNN
        (dict(slot_update_normalization="sum"), "slot_update_normalization"),
        (dict(slot_input="cnn", slot_input_stride=2, mixture_loss_weight=1.0), "mixture_loss_weight"),
        (dict(mask_schedule="square"), "mask_schedule"),
        (dict(num_slots=0), "num_slots"),
        (dict(dropout=1.5), "dropout"),
        (dict(position_encoding="rope", d_model=24, num_heads=4), "position_encoding"),
    ],
)
def test_inconsistent_values_raise_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MOGENTConfig.from_preset("tiny", **kwargs)


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="preset"):
        SLATEConfig.from_preset("imagenet")
