"""MOGENTModel and SLATEModel against the conventions transformers' common model tests check (`ModelTesterMixin`):
a model tester with a tiny config, then determinism, save/load, batching equivalence, tuple-vs-dict outputs, hidden
states, embedding accessors, gradient checkpointing, dtype casting, config attributes, `torch.export` and the
attention implementations."""

import functools
from unittest import mock

import pytest
import torch
from torch import nn
from transformers import AutoConfig

from mogent_hf import MOGENTConfig, MOGENTModel, SLATEConfig, SLATEModel


class SlotTransformerModelTester:
    """Builds a tiny seeded model of one class and its inputs, as transformers' `*ModelTester`s do."""

    def __init__(self, config_cls, model_cls, batch_size: int = 3, **config_overrides):
        self.config_cls, self.model_cls, self.batch_size = config_cls, model_cls, batch_size
        self.config_overrides = config_overrides

    def get_config(self, **overrides):
        return self.config_cls.from_preset("tiny", **{**self.config_overrides, **overrides})

    def prepare_config_and_inputs(self, **overrides):
        config = self.get_config(**overrides)
        size = config.image_size
        pixel_values = torch.rand(self.batch_size, config.num_channels, size, size,
                                  generator=torch.Generator().manual_seed(0))  # fmt: skip
        return config, pixel_values

    def model(self, config):
        torch.manual_seed(0)
        return self.model_cls(config)


TESTERS = {
    "mogent": SlotTransformerModelTester(MOGENTConfig, MOGENTModel),
    "slate": SlotTransformerModelTester(SLATEConfig, SLATEModel),
}


@pytest.fixture(params=sorted(TESTERS))
def tester(request):
    return TESTERS[request.param]


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def assert_outputs_equal(first, second, atol=0.0):
    """Every field of two `SlotTransformerOutput`s (or tuples) is equal (within `atol`)."""
    first = first.to_tuple() if hasattr(first, "to_tuple") else first
    second = second.to_tuple() if hasattr(second, "to_tuple") else second
    assert len(first) == len(second)
    for a, b in zip(first, second):
        if isinstance(a, tuple):
            assert_outputs_equal(a, b, atol)
        elif a.is_floating_point():
            torch.testing.assert_close(a, b, atol=atol, rtol=0 if atol == 0 else 1e-5)
        else:
            assert torch.equal(a, b)


# ---- determinism (issue 29, item 1) ---------------------------------------------------------------------------
def test_forward_with_one_generator_gives_one_result_in_training_and_eval_mode(tester):
    config, pixel_values = tester.prepare_config_and_inputs(dropout=0.0)
    model = tester.model(config).train()
    first = model(pixel_values, tau=0.7, sigma=0.5, generator=seeded())
    assert_outputs_equal(first, model(pixel_values, tau=0.7, sigma=0.5, generator=seeded()))
    assert_outputs_equal(first, model.eval()(pixel_values, tau=0.7, sigma=0.5, generator=seeded()))
    assert not torch.equal(
        first.reconstruction, model(pixel_values, tau=0.7, sigma=0.5, generator=seeded(1)).reconstruction
    )


def test_eval_encode_is_deterministic_and_independent_of_the_rest_of_the_batch(tester):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    torch.manual_seed(1)
    batch = model.encode(pixel_values)
    torch.manual_seed(2)
    assert_outputs_equal(batch, model.encode(pixel_values))
    alone = model.encode(pixel_values[1:2])
    assert_outputs_equal(alone, tuple(value[1:2] for value in batch.to_tuple()), atol=1e-5)
    slots = batch.slots[0]
    assert (slots[:, None] - slots[None]).abs().amax(-1).fill_diagonal_(1).min() > 1e-3  # K distinct slots


def test_slate_gaussian_start_comes_from_the_generator_or_one_fixed_draw_in_eval_mode():
    tester = TESTERS["slate"]
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    generators = [seeded(7), seeded(8), seeded(9)]
    torch.manual_seed(0)
    per_image = model.encode(pixel_values, generator=generators).slots
    torch.manual_seed(1)  # the global RNG plays no part
    again = model.encode(pixel_values, generator=[seeded(7), seeded(8), seeded(9)]).slots
    assert torch.equal(per_image, again)
    alone = model.encode(pixel_values[2:], generator=[seeded(9)]).slots
    torch.testing.assert_close(alone, per_image[2:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(per_image, model.encode(pixel_values).slots)  # a generator's draw, not the fixed one
    model.train()  # training keeps SLATE's random start when no generator is given
    assert not torch.equal(model.encode(pixel_values).slots, model.encode(pixel_values).slots)


# ---- save/load, batching, tuples (transformers' common checks) -------------------------------------------------
def test_save_and_reload_give_the_same_seeded_outputs(tester, tmp_path):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    model.save_pretrained(tmp_path)
    loaded = tester.model_cls.from_pretrained(tmp_path).eval()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), tester.config_cls)
    assert_outputs_equal(model(pixel_values, generator=seeded()), loaded(pixel_values, generator=seeded()))


def test_batching_equivalence_with_one_generator_per_image(tester):
    config, pixel_values = tester.prepare_config_and_inputs(dropout=0.0)
    model = tester.model(config).eval()
    batch = model(pixel_values, sigma=0.5, generator=[seeded(b) for b in range(3)])
    alone = model(pixel_values[1:2], sigma=0.5, generator=[seeded(1)])
    for name in alone.keys() - {"loss", "dvae_mse", "cross_entropy", "mixture_cross_entropy"}:  # not batch means
        a, b = batch[name][1:2], alone[name]
        if a.is_floating_point():
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        else:
            assert torch.equal(a, b), name


def test_return_dict_false_gives_the_dicts_values_in_order(tester):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    as_dict = model(pixel_values, generator=seeded())
    as_tuple = model(pixel_values, generator=seeded(), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(as_dict.keys())
    assert_outputs_equal(as_dict.to_tuple(), as_tuple)
    model.config.return_dict = False
    assert_outputs_equal(as_tuple, model(pixel_values, generator=seeded()))
    assert_outputs_equal(as_tuple, model(pixel_values, generator=seeded(), dvae_only=False))
    assert isinstance(model(pixel_values, dvae_only=True), tuple)


# ---- hidden states (item 5) -----------------------------------------------------------------------------------
def test_hidden_states_are_the_decoder_input_and_every_blocks_output(tester):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    assert model(pixel_values, generator=seeded()).hidden_states is None
    out = model(pixel_values, generator=seeded(), output_hidden_states=True)
    hidden_states = out.hidden_states
    assert len(hidden_states) == config.num_hidden_layers + 1 == config.num_decoder_layers + 1
    assert all(h.shape == (3, config.num_tokens, config.hidden_size) for h in hidden_states)
    logits = model.head(model.decoder.norm(hidden_states[-1]))
    torch.testing.assert_close(logits, out.logits)  # the last block's output, before the final LayerNorm
    block = model.decoder.blocks[0]
    assert block.normalize_input is False
    expected_first = block(hidden_states[0], model.slot_kv(out.slots)[0])
    torch.testing.assert_close(expected_first, hidden_states[1], atol=1e-5, rtol=1e-5)
    assert_outputs_equal(model(pixel_values, generator=seeded()), out.to_tuple()[:-1])
    model.config.output_hidden_states = True
    assert len(model(pixel_values, generator=seeded()).hidden_states) == config.num_decoder_layers + 1


# ---- embeddings (item 2) --------------------------------------------------------------------------------------
def test_input_embeddings_are_the_token_dictionary_and_setting_them_replaces_it(tester):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config).eval()
    embeddings = model.get_input_embeddings()
    assert embeddings is model.token_embedding and isinstance(embeddings, nn.Embedding)
    assert embeddings.num_embeddings == config.vocab_size + 1  # the V codes and [MASK] or [BOS]
    keys = set(model.state_dict())
    before = model(pixel_values, generator=seeded())
    replacement = nn.Embedding(config.vocab_size + 1, config.d_model)
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement and model.token_embedding is replacement
    assert set(model.state_dict()) == keys
    assert not torch.allclose(model(pixel_values, generator=seeded()).logits, before.logits)


def test_enable_input_require_grads_makes_the_embeddings_output_require_grad(tester):
    config, pixel_values = tester.prepare_config_and_inputs()
    model = tester.model(config)
    model.requires_grad_(False)
    model.enable_input_require_grads()
    model.gradient_checkpointing_enable()
    seen = []
    model.get_input_embeddings().register_forward_hook(lambda module, args, output: seen.append(output.requires_grad))
    model(pixel_values, generator=seeded())
    assert seen and all(seen)


# ---- gradient checkpointing (item 3) --------------------------------------------------------------------------
def test_gradient_checkpointing_gives_the_same_loss_and_gradients_and_checkpoints_every_block(tester):
    config, pixel_values = tester.prepare_config_and_inputs()  # the tiny preset's dropout 0.1: RNG states replayed
    assert config.dropout > 0
    plain, checkpointed = tester.model(config).train(), tester.model(config).train()
    assert not plain.is_gradient_checkpointing
    checkpointed.gradient_checkpointing_enable()
    assert checkpointed.is_gradient_checkpointing
    for block in checkpointed.decoder.blocks:  # count the recomputed blocks
        block._gradient_checkpointing_func = mock.Mock(wraps=block._gradient_checkpointing_func)
    results = []
    for model in (plain, checkpointed):
        torch.manual_seed(3)
        loss = model(pixel_values, tau=0.5, sigma=0.5, generator=seeded()).loss
        loss.backward()
        results.append((loss, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}))
    (loss, grads), (loss_gc, grads_gc) = results
    assert all(block._gradient_checkpointing_func.call_count == 1 for block in checkpointed.decoder.blocks)
    torch.testing.assert_close(loss, loss_gc)
    assert grads.keys() == grads_gc.keys() and len(grads) > 50
    for name in grads:
        torch.testing.assert_close(grads[name], grads_gc[name], atol=1e-6, rtol=1e-5, msg=name)
    checkpointed.gradient_checkpointing_disable()
    assert not any(block.gradient_checkpointing for block in checkpointed.decoder.blocks)


def test_train_script_flag_turns_checkpointing_on_and_gives_the_same_run(tmp_path):
    """`training/train.py --gradient_checkpointing`, as diffusers' example scripts: the same losses, less memory."""
    import json
    import sys
    from pathlib import Path

    from accelerate.state import AcceleratorState, GradientState, PartialState

    sys.path.append(str(Path(__file__).resolve().parents[1] / "training"))
    import train

    arguments = ["--preset", "tiny", "--synthetic", "clevr", "--num_train_scenes", "16", "--num_validation_scenes",
                 "4", "--train_batch_size", "4", "--max_train_steps", "2", "--validation_steps", "2",
                 "--num_grid_images", "2", "--seed", "3"]  # fmt: skip
    losses = []
    for flag in ([], ["--gradient_checkpointing"]):
        model = train.main([*arguments, *flag, "--output_dir", str(tmp_path / str(len(flag)))])
        assert model.is_gradient_checkpointing == bool(flag)
        log = (tmp_path / str(len(flag)) / "logs.jsonl").read_text().splitlines()
        losses.append([json.loads(line)["loss"] for line in log if "loss" in json.loads(line)])
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()
    assert len(losses[0]) == 2
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_train_step_benchmark_times_rows_with_and_without_checkpointing(tmp_path):
    import train_step

    result = train_step.main(["--quick", "--dropout", "off", "--precisions", "fp32", "--gradient_checkpointing",
                              "both", "--no-isolate", "--output", str(tmp_path / "t.json")])  # fmt: skip
    rows = result["rows"]
    assert [(row["model"], row["gradient_checkpointing"]) for row in rows] == [
        ("mogent", False), ("slate", False), ("mogent", True), ("slate", True)
    ]  # fmt: skip
    assert all(row["precision"] == "fp32" and row["median_s"] > 0 and "failed" not in row for row in rows)


def test_train_step_benchmark_records_a_row_that_needs_more_memory_than_its_limit():
    import train_step

    row = train_step.in_fresh_process(
        functools.partial(train_step.time_steps, memory_limit_gb=2.0), "mogent", "tiny", 4096, "fp32", False,
        torch.device("cpu"), 1,
    )  # fmt: skip
    assert row["failed"].startswith("out of memory under the 2.0 GiB limit") and row["median_s"] is None


# ---- dtype (item 4) -------------------------------------------------------------------------------------------
def test_a_bf16_model_casts_float32_pixel_values_to_its_dtype(tester, tmp_path):
    config, pixel_values = tester.prepare_config_and_inputs(dropout=0.0)
    tester.model(config).save_pretrained(tmp_path)
    model = tester.model_cls.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert model.dtype == torch.bfloat16
    pixel_values = pixel_values.bfloat16().float()  # values that bf16 holds exactly: the same loss targets
    from_float32 = model(pixel_values, generator=seeded())
    assert_outputs_equal(from_float32, model(pixel_values.bfloat16(), generator=seeded()))
    assert model.encode(pixel_values).slots.dtype == torch.bfloat16
    cnn = tester.model(tester.get_config(slot_input="cnn")).to(torch.bfloat16).eval()
    assert cnn.encode(pixel_values).slots.dtype == torch.bfloat16


# ---- config (item 6) ------------------------------------------------------------------------------------------
def test_config_answers_to_transformers_common_attribute_names(tester):
    config = tester.config_cls(hidden_size=48, num_attention_heads=6, num_hidden_layers=3)
    assert (config.d_model, config.num_heads, config.num_decoder_layers) == (48, 6, 3)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (48, 6, 3)
    config.hidden_size = 24
    assert config.d_model == 24 and "hidden_size" not in config.to_dict()
    assert tester.config_cls.from_preset("tiny", num_hidden_layers=1).num_decoder_layers == 1
    with pytest.raises(ValueError, match=r"`d_model` \(50\) must be divisible by `num_heads` \(8\)"):
        tester.config_cls(hidden_size=50, num_attention_heads=8)


@pytest.mark.parametrize("config_cls, name", [(SLATEConfig, "bos_token_id"), (MOGENTConfig, "mask_token_id")])
def test_special_token_ids_follow_the_vocabulary_and_refuse_other_values_clearly(config_cls, name):
    config = config_cls(vocab_size=64, **{name: 64})
    assert getattr(config, name) == 64
    setattr(config, name, 64)
    with pytest.raises(ValueError, match=rf"`{name}`.*must be `vocab_size` \(64\); got 5"):
        config_cls(vocab_size=64, **{name: 5})
    with pytest.raises(ValueError, match=rf"`{name}`.*got 0"):
        setattr(config, name, 0)
    config.vocab_size = 100
    assert getattr(config, name) == 100


# ---- torch.export (item 7) ------------------------------------------------------------------------------------
def test_torch_export_traces_forward_and_eager_mode_still_checks_the_value_range(tester):
    config, pixel_values = tester.prepare_config_and_inputs(dropout=0.0)
    model = tester.model(config).eval()
    token_mask = torch.rand(3, config.num_tokens, generator=seeded()) < 0.5
    kwargs = {"token_mask": token_mask} if tester.model_cls is MOGENTModel else {}
    exported = torch.export.export(model, (pixel_values,), kwargs=kwargs)
    torch.manual_seed(4)
    expected = model(pixel_values, **kwargs)
    torch.manual_seed(4)
    got = exported.module()(pixel_values, **kwargs)
    torch.testing.assert_close(got["loss"], expected.loss)
    torch.testing.assert_close(got["logits"], expected.logits)
    with pytest.raises(ValueError, match=r"pixel_values.*\[0, 1\]"):
        model(pixel_values * 3)


# ---- attention implementations (item 8) -----------------------------------------------------------------------
def test_eager_attention_is_honoured_and_computes_what_sdpa_does(tester, tmp_path):
    config, pixel_values = tester.prepare_config_and_inputs()
    sdpa = tester.model(config).eval()
    sdpa.save_pretrained(tmp_path)
    eager = tester.model_cls.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    with mock.patch(
        "torch.nn.functional.scaled_dot_product_attention", wraps=torch.nn.functional.scaled_dot_product_attention
    ) as sdpa_call:
        eager_out = eager(pixel_values, generator=seeded())
    assert sdpa_call.call_count == 0
    torch.testing.assert_close(eager_out.logits, sdpa(pixel_values, generator=seeded()).logits, atol=1e-5, rtol=1e-5)
    if tester.model_cls is SLATEModel:  # the causal mask, with and without the KV cache
        slots = eager_out.slots
        for use_cache in (True, False):
            assert torch.equal(eager.generate_tokens(slots, use_cache), sdpa.generate_tokens(slots, use_cache))
    eager.train()(pixel_values, generator=seeded()).loss.backward()  # dropout on the attention weights
    sdpa.set_attn_implementation("eager")
    assert all(block.self_attention.attn_implementation == "eager" for block in sdpa.decoder.blocks)
    sdpa.set_attn_implementation("sdpa")
    assert all(block.cross_attention.attn_implementation == "sdpa" for block in sdpa.decoder.blocks)


@pytest.mark.parametrize(
    "implementation, match",
    [
        ("flash_attention_2", "does not support Flash Attention 2"),
        ("paged|eager", r"attn_implementation.*must be one of \('sdpa', 'eager'\)"),
    ],
)
def test_attention_implementations_other_than_sdpa_and_eager_are_refused(tester, tmp_path, implementation, match):
    config, _ = tester.prepare_config_and_inputs()
    tester.model(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=match):
        tester.model_cls.from_pretrained(tmp_path, attn_implementation=implementation)
