"""MOGENT's decoding strategies: the paper's default unchanged, and the faster options (cached sub-steps, threshold
decoding with early exit, Halton order) each equal to the default where they should be, batch independent and
reproducible."""

import json
from pathlib import Path

import pytest
import torch

from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline
from mogent_hf.modules import PositionKVCache, sample_tokens
from mogent_hf.scheduling_maskgit import halton_order, num_masked_after_step, top_positions

REFERENCE = Path(__file__).parent / "data" / "maskgit_reference_tokens.json"


def tiny_pipe(**scheduler_config):
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
    scheduler = MaskGITScheduler(mask_token_id=model.config.mask_token_id, **scheduler_config)
    pipe = MOGENTPipeline(model=model, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generators(*seeds):
    return [torch.Generator().manual_seed(seed) for seed in seeds]


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipe()


@pytest.fixture(scope="module")
def slots(pipe):
    config = pipe.model.config
    return torch.randn(3, config.num_slots, config.slot_size, generator=torch.Generator().manual_seed(2))


def test_default_decoding_is_bit_identical_to_the_saved_tokens_of_the_paper_loop(pipe, slots):
    """Tokens saved from the implementation before the decoding strategies were added (same seeds, tiny preset)."""
    reference = json.loads(REFERENCE.read_text())
    parameter_sum = float(sum(p.detach().double().sum() for p in pipe.model.parameters()))
    # rel 1e-6: the initialisation rounds differently with the thread count (1e-9 apart); a change of weights is larger
    assert parameter_sum == pytest.approx(reference["parameter_sum"], rel=1e-6), "the tiny preset's weights changed"
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    decoded = {
        "slots_t1_T20": pipe(slots=slots, generator=generators(0, 1, 2), output_type="pt").tokens,
        "slots_greedy_T8": pipe(slots=slots, num_inference_steps=8, temperature=0.0, output_type="pt").tokens,
        "slots_single_generator_T12_topk": pipe(
            slots=slots, num_inference_steps=12, top_k=8, generator=torch.Generator().manual_seed(3), output_type="pt"
        ).tokens,
        "images_ratio_half": pipe(
            images=images, mask_ratio=0.5, generator=generators(0, 1, 2), output_type="pt"
        ).tokens,
        "edit": pipe.edit(
            images[:2], images[1:], [(0, 1)], generator=torch.Generator().manual_seed(4), output_type="pt"
        ).tokens,
        "slots_choice_temperature_2": tiny_pipe(choice_temperature=2.0)(
            slots=slots, generator=generators(0, 1, 2), output_type="pt"
        ).tokens,
    }
    for name, tokens in decoded.items():
        assert torch.equal(tokens, torch.tensor(reference["tokens"][name])), name


STRATEGIES = {
    "cached_substeps": ({}, {"cache_interval": 4}),
    "cached_substeps_beyond_T": ({}, {"cache_interval": 50}),
    "confidence_threshold": ({"confidence_threshold": 0.5}, {}),
    "halton": ({"unmasking_order": "halton"}, {}),
    "halton_cached": ({"unmasking_order": "halton"}, {"cache_interval": 3}),
}


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_is_batch_independent_reproducible_and_decodes_every_token(name, slots):
    scheduler_config, call_kwargs = STRATEGIES[name]
    strategy = tiny_pipe(**scheduler_config)
    batch = strategy(slots=slots, generator=generators(0, 1, 2), output_type="pt", **call_kwargs).tokens
    again = strategy(slots=slots, generator=generators(0, 1, 2), output_type="pt", **call_kwargs).tokens
    alone = strategy(slots=slots[1:2], generator=generators(1), output_type="pt", **call_kwargs).tokens
    assert torch.equal(batch, again) and torch.equal(batch[1:2], alone)
    assert (batch < strategy.model.config.vocab_size).all()
    other = strategy(slots=slots, generator=generators(5, 6, 7), output_type="pt", **call_kwargs).tokens
    assert not torch.equal(batch, other)


@pytest.mark.parametrize("name", ["cached_substeps", "confidence_threshold", "halton", "halton_cached"])
def test_strategies_inpaint_regions_of_different_sizes(name):
    """Editing re-masks a different number of tokens per image (padded queries); every token outside the regions is
    kept. Strategies with per-position draws keep image 0 equal to its own run even then; the paper's loop (and the
    full passes of cached sub-steps, which are its steps) does not: it queries all L rows when the counts differ."""
    scheduler_config, call_kwargs = STRATEGIES[name]
    strategy = tiny_pipe(**scheduler_config)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    encoded = strategy.encode(images)
    regions = torch.zeros(3, strategy.model.config.num_tokens, dtype=torch.bool)
    regions[0, :40], regions[1, 10:20], regions[2, 5:60] = True, True, True
    edited = strategy._inpaint(encoded.tokens, regions, encoded.slots, generator=generators(0, 1, 2), **call_kwargs)
    assert torch.equal(edited[~regions], encoded.tokens[~regions]) and (edited < strategy.model.config.vocab_size).all()
    if not strategy.scheduler.is_paper_default:
        alone = strategy._inpaint(
            encoded.tokens[:1], regions[:1], encoded.slots[:1], generator=generators(0), **call_kwargs
        )
        assert torch.equal(edited[:1], alone)


def test_cache_interval_1_is_the_full_decode(pipe, slots):
    default = pipe(slots=slots, generator=generators(0, 1, 2), output_type="pt").tokens
    every_step_full = pipe(slots=slots, generator=generators(0, 1, 2), output_type="pt", cache_interval=1).tokens
    assert torch.equal(default, every_step_full)


@pytest.mark.parametrize("position_encoding", ["learned", "rope"])
def test_a_cached_sub_step_on_unchanged_tokens_gives_the_full_pass_rows(position_encoding):
    """The cached pass at some rows, against the keys/values a full pass stored, is the full pass at those rows."""
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny", position_encoding=position_encoding)).eval()
    config = model.config
    tokens = torch.randint(0, config.vocab_size, (2, config.num_tokens), generator=torch.Generator().manual_seed(1))
    tokens[:, ::3] = config.mask_token_id
    slot_kv = model.fold_slot_attention(torch.randn(2, config.num_slots, config.slot_size))
    positions = torch.tensor([[5, 0, 63, 17], [2, 2, 40, 9]])
    cache = PositionKVCache()
    with torch.no_grad():
        full = model.token_logits(tokens, slot_kv=slot_kv, kv_cache=cache)
        rows = model.token_logits(tokens, slot_kv=slot_kv, query_positions=positions, kv_cache=cache)
    expected = full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1]))
    torch.testing.assert_close(rows, expected, rtol=1e-5, atol=1e-5)


def test_confidence_threshold_off_in_effect_follows_the_fixed_schedule_and_a_low_one_finishes_early(slots):
    """A threshold above every probability unmasks exactly the schedule's counts at each step; one below every
    probability unmasks everything at the first step, and the loop stops (every image has left the batch)."""

    def masked_counts(pipe):
        counts = []

        def record(pipe, step, timestep, tensors):
            counts.append((tensors["tokens"] == pipe.model.config.mask_token_id).sum(1).tolist())
            return {}

        pipe(slots=slots, generator=generators(0, 1, 2), num_inference_steps=8, callback_on_step_end=record)
        return counts

    schedule = masked_counts(tiny_pipe())
    assert masked_counts(tiny_pipe(confidence_threshold=1.0)) == schedule
    assert masked_counts(tiny_pipe(confidence_threshold=1e-30)) == [[0, 0, 0]]


def test_halton_order_is_a_permutation_that_starts_spread_over_the_grid():
    order = halton_order(4)
    assert sorted(order.tolist()) == list(range(16))
    assert order[:4].tolist() == [
        0,
        9,
        6,
        12,
    ]  # cells (0,0), (2,1), (1,2), (3,0): Halton points (0,0), (½,⅓), (¼,⅔), (¾,⅑)
    assert sorted(halton_order(32).tolist()) == list(range(1024))


def test_halton_order_unmasks_the_same_precomputed_positions_in_every_image(slots):
    pipe = tiny_pipe(unmasking_order="halton")
    unmasked = []

    def record(pipe, step, timestep, tensors):
        unmasked.append(tensors["tokens"] != pipe.model.config.mask_token_id)
        return {}

    pipe(slots=slots, generator=generators(0, 1, 2), num_inference_steps=5, callback_on_step_end=record)
    ranks = torch.empty(64, dtype=torch.long).scatter_(0, halton_order(8), torch.arange(64))
    for known in unmasked:
        assert (known == known[:1]).all()  # the same positions in every image
        assert torch.equal(known[0], ranks < known[0].sum())  # a prefix of the Halton order


@pytest.mark.parametrize("scheduler_config, call_kwargs", [({"unmasking_order": "halton"}, {"cache_interval": 3})])
def test_an_interrupt_in_a_partial_step_still_returns_every_token(slots, scheduler_config, call_kwargs):
    pipe = tiny_pipe(**scheduler_config)

    def stop(pipe, step, timestep, tensors):
        pipe._interrupt = step == 1
        return {}

    tokens = pipe(
        slots=slots, generator=generators(0, 1, 2), callback_on_step_end=stop, output_type="pt", **call_kwargs
    )
    assert (tokens.tokens < pipe.model.config.vocab_size).all()


def test_bad_strategy_arguments_raise_clear_errors(pipe, slots):
    with pytest.raises(ValueError, match="unmasking_order"):
        MaskGITScheduler(mask_token_id=4, unmasking_order="raster")
    with pytest.raises(ValueError, match="confidence_threshold"):
        MaskGITScheduler(mask_token_id=4, confidence_threshold=1.5)
    with pytest.raises(ValueError, match="cache_interval"):
        pipe(slots=slots, cache_interval=0)
    with pytest.raises(ValueError, match="does not combine"):
        tiny_pipe(confidence_threshold=0.9)(slots=slots, cache_interval=2)


def test_strategy_benchmark_times_every_mode_side_by_side_and_scores_quality(tmp_path, capsys):
    import decoding_strategies

    output = tmp_path / "strategies.json"
    strategies = ["T20", "cached_k3", "halton_cached_k3", "threshold_0.9_T8"]
    result = decoding_strategies.main(["--quick", "--no-isolate", "--strategies", *strategies, "--speed_strategies",
                                       *strategies, "--output", str(output)])  # fmt: skip
    (row,) = result["speed"]
    assert (row["model"], row["resolution"], row["batch"], row["threads"]) == ("tiny", 16, 2, 1)
    assert list(row["ms_per_image"]) == strategies + ["slate_kv"]  # uncached SLATE at batch 1 only
    assert row["speedup_over_slate_kv"]["slate_kv"] == 1.0 and all(v > 0 for v in row["speedup_over_slate_kv"].values())
    quality = result["quality"]
    assert quality["T20"]["token_agreement"]["mean"] == 1.0 and quality["T20"]["mse_change"] == 0.0
    assert quality["threshold_0.9_T8"]["steps"]["max"] <= 8 and len(quality["cached_k3"]["per_seed"]["mse"]) == 2
    assert json.loads(output.read_text())["quality_setup"]["seeds"] == 2
    assert "| threshold_0.9_T8 |" in capsys.readouterr().out
    decoding_strategies.main(["--draw", str(output), str(output), "tiny:16:2"])
    assert output.with_suffix(".png").exists()


def test_strategy_benchmark_builds_slate_at_the_shipped_size_and_renders_the_held_out_scenes():
    import decoding_strategies

    from mogent_hf.data import SyntheticScenes

    config = MOGENTConfig.from_preset("small", num_slots=7, image_size=16)
    slate = decoding_strategies.slate_like(config, 16).model.config
    assert (slate.d_model, slate.num_decoder_layers, slate.mlp_hidden_size, slate.num_slots) == (64, 2, 128, 7)
    images = decoding_strategies.held_out_images(2, 16)
    scene = SyntheticScenes("clevr", 2, 16, split="test", min_objects=3, max_objects=6)[1]["image"]
    assert images.shape == (2, 3, 16, 16) and torch.equal(
        (images[1] * 255).round().byte().permute(1, 2, 0), torch.from_numpy(scene)
    )


def test_sample_tokens_with_given_uniforms_equals_drawing_the_same_ones():
    logits = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(0)) * 3
    drawn = sample_tokens(logits, 0.8, None, torch.Generator().manual_seed(3))
    uniforms = torch.rand(2, 5, 1, generator=torch.Generator().manual_seed(3))[..., 0]
    given = sample_tokens(logits, 0.8, None, uniforms=uniforms)
    assert torch.equal(drawn[0], given[0]) and torch.equal(drawn[1], given[1])


def test_top_positions_ranks_each_row_and_pads_short_rows_with_their_first_position():
    priority = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 5.0, 1.0, 1.0]])
    assert top_positions(priority, torch.tensor([2, 1])).tolist() == [[0, 2], [1, 1]]
    assert top_positions(priority, torch.tensor([0, 0])).shape == (2, 0)


def test_positions_to_unmask_follow_the_schedule_counts_in_the_chosen_order():
    scheduler = MaskGITScheduler(mask_token_id=64)
    scheduler.set_timesteps(4)
    tokens = torch.full((1, 16), 64)
    confidence = torch.arange(16.0)[None]
    first_two_steps = scheduler.positions_to_unmask(tokens, 3, confidence=confidence, num_steps=2)
    kept = num_masked_after_step(1, 4, torch.tensor([16]))  # masked after the second step
    assert first_two_steps.tolist() == [list(range(15, 15 - (16 - int(kept)), -1))]
    halton = MaskGITScheduler(mask_token_id=64, unmasking_order="halton")
    halton.set_timesteps(4)
    assert halton.positions_to_unmask(tokens, 3, num_steps=4).tolist() == [halton_order(4).tolist()]


def test_a_step_refuses_to_unmask_positions_without_logits():
    scheduler = MaskGITScheduler(mask_token_id=8)
    scheduler.set_timesteps(1)  # one step: everything must be unmasked
    tokens = torch.full((1, 4), 8)
    with pytest.raises(ValueError, match="every masked position that this step unmasks"):
        scheduler.step(torch.randn(1, 2, 8), 0, tokens, query_positions=torch.tensor([[0, 1]]))
