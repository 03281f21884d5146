import pytest

from mogent_hf import MOGENTConfig, SLATEConfig

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
def test_mogent_presets_match_table_6_field_by_field(preset):
    config = MOGENTConfig.from_preset(preset)
    for field, value in TABLE_6[preset].items():
        assert getattr(config, field) == value, field
    assert config.slot_init == "learned_queries" and config.bilevel_optimization
    assert config.zero_mask_init and config.loss_on_masked_only and config.mask_schedule == "cosine"


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
