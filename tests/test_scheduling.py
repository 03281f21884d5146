import math

import pytest
import torch

from mogent_hf import MaskGITScheduler
from mogent_hf.modules import mask_schedule, sample_tokens
from mogent_hf.scheduling_maskgit import num_masked_after_step, remask_lowest_confidence

MASK = 100


def decode_counts(num_tokens, num_steps, given=None, **scheduler_kwargs):
    """Runs the scheduler on random logits; returns masked counts after each step and the token history."""
    scheduler = MaskGITScheduler(mask_token_id=MASK, **scheduler_kwargs)
    scheduler.set_timesteps(num_steps)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.full((2, num_tokens), MASK)
    if given is not None:
        tokens = torch.where(given >= 0, given, tokens)
    start = (tokens == MASK).sum(1)
    counts, history = [], [tokens]
    for step in scheduler.timesteps:
        logits = torch.randn(2, num_tokens, MASK, generator=generator)
        tokens = scheduler.step(logits, step, tokens, num_masked_start=start, generator=generator).prev_sample
        counts.append((tokens == MASK).sum(1).tolist())
        history.append(tokens)
    return counts, history


def test_cosine_schedule_endpoints_and_values():
    assert mask_schedule(0.0).item() == 1.0 and abs(mask_schedule(1.0).item()) < 1e-12
    assert mask_schedule(0.5, "linear").item() == 0.5
    assert math.isclose(mask_schedule(1 / 3).item(), math.cos(math.pi / 6))


def test_mask_counts_per_step_pinned_for_L16_T8():
    counts, _ = decode_counts(16, 8)
    assert [c[0] for c in counts] == [15, 14, 13, 11, 8, 6, 3, 0]


def test_mask_counts_per_step_pinned_for_L256_T20():
    counts, _ = decode_counts(256, 20)
    expected = [255, 252, 248, 243, 236, 228, 218, 207, 194, 181, 166, 150, 133, 116, 97, 79, 59, 40, 20, 0]
    assert counts == [[count, count] for count in expected]


def test_given_tokens_are_never_changed_and_counts_scale_with_the_masked_start():
    given = torch.randint(0, MASK, (2, 64), generator=torch.Generator().manual_seed(1))
    given[:, 16:] = -1  # 48 masked
    counts, history = decode_counts(64, 5, given=given)
    for tokens in history:
        assert torch.equal(tokens[:, :16], given[:, :16])
    assert [c[0] for c in counts] == [math.floor(48 * math.cos(math.pi / 2 * (t + 1) / 5) + 1e-9) for t in range(5)]


def test_unmasked_tokens_stay_fixed_once_chosen():
    _, history = decode_counts(32, 6, choice_temperature=2.0)
    for before, after in zip(history, history[1:]):
        known = before != MASK
        assert torch.equal(after[known], before[known])


def test_remask_picks_lowest_confidence():
    confidence = torch.tensor([[0.5, -1.0, math.inf, -3.0, 0.0]])
    assert remask_lowest_confidence(confidence, torch.tensor([2])).tolist() == [[False, True, False, True, False]]
    assert num_masked_after_step(0, 2, torch.tensor([10])).tolist() == [math.floor(10 * math.cos(math.pi / 4))]


def test_sampler_is_exact_greedy_and_respects_top_k():
    logits = torch.tensor([[0.0, 3.0, 1.0, -2.0]]).repeat(20000, 1)
    tokens, log_probs = sample_tokens(logits, temperature=0.0)
    assert (tokens == 1).all() and torch.allclose(log_probs, logits.log_softmax(-1)[:, 1])
    tokens, log_probs = sample_tokens(logits, temperature=1.0, generator=torch.Generator().manual_seed(0))
    frequencies = torch.bincount(tokens, minlength=4).float() / len(tokens)
    assert torch.allclose(frequencies, logits[0].softmax(-1), atol=0.01)
    assert torch.allclose(log_probs, logits.log_softmax(-1).gather(1, tokens[:, None])[:, 0])
    tokens, log_probs = sample_tokens(logits, temperature=2.0, generator=torch.Generator().manual_seed(1))
    frequencies = torch.bincount(tokens, minlength=4).float() / len(tokens)
    assert torch.allclose(frequencies, (logits[0] / 2).softmax(-1), atol=0.01)
    assert torch.allclose(log_probs, (logits / 2).log_softmax(-1).gather(1, tokens[:, None])[:, 0])
    tokens, _ = sample_tokens(logits, temperature=1.0, top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(tokens.unique().tolist()) == {1, 2}


@pytest.mark.parametrize("num_codes", [4096, 48, 37])
def test_two_level_sampler_draws_the_tokens_of_a_flat_inverse_cdf(num_codes):
    logits = torch.randn(3, 500, num_codes, generator=torch.Generator().manual_seed(num_codes)) * 3
    tokens, log_probs = sample_tokens(logits, temperature=0.7, generator=torch.Generator().manual_seed(5))
    draws = torch.rand(3, 500, 1, generator=torch.Generator().manual_seed(5))  # the same uniform per row
    cdf = (logits / 0.7).softmax(-1).double().cumsum(-1)
    reference = torch.searchsorted(cdf, draws.double() * cdf[..., -1:], right=True).squeeze(-1)
    assert (tokens == reference).float().mean() > 0.999  # float32 vs float64 CDF: only exact ties may differ
    torch.testing.assert_close(log_probs, (logits / 0.7).log_softmax(-1).gather(-1, tokens[..., None])[..., 0])


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, None), (1.0, 5), (0.0, None)])
def test_sampler_samples_low_precision_logits_as_their_fp32_copy_and_never_writes_to_them(temperature, top_k):
    # bf16/fp16 logits: the sampler works in place in its own fp32 copy; fp32 logits are the caller's, left alone
    logits = torch.randn(2, 300, 256, generator=torch.Generator().manual_seed(3)) * 3
    for low in (logits.bfloat16(), logits.half()):
        before = low.clone()
        reference = sample_tokens(low.float(), temperature, top_k, torch.Generator().manual_seed(1))
        sampled = sample_tokens(low, temperature, top_k, torch.Generator().manual_seed(1))
        assert torch.equal(sampled[0], reference[0]) and torch.equal(sampled[1], reference[1])
        assert torch.equal(low, before)
    before = logits.clone()
    tokens, log_probs = sample_tokens(logits, temperature, top_k, torch.Generator().manual_seed(1))
    assert torch.equal(logits, before)
    scaled = logits / temperature if temperature else logits
    if top_k is not None:
        scaled = scaled.masked_fill(scaled < scaled.topk(top_k, dim=-1).values[..., -1:], float("-inf"))
    expected = scaled.log_softmax(-1).gather(-1, tokens[..., None])[..., 0]
    torch.testing.assert_close(log_probs, expected)


def test_sampler_never_draws_a_code_without_probability():
    logits = torch.full((20000, 64), float("-inf"))
    logits[:, [0, 9, 63]] = torch.tensor([-30.0, 0.0, 1.0])  # code 0: ~1e-13, below float32 rounding of the CDF
    tokens, _ = sample_tokens(logits, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert set(tokens.unique().tolist()) <= {0, 9, 63} and {9, 63} <= set(tokens.unique().tolist())


def test_scheduler_accepts_logits_at_query_positions_only():
    scheduler = MaskGITScheduler(mask_token_id=MASK)
    scheduler.set_timesteps(4)
    tokens = torch.full((1, 8), MASK)
    tokens[0, :4] = 3
    positions = torch.arange(4, 8)[None]
    out = scheduler.step(torch.randn(1, 4, MASK), 0, tokens, num_masked_start=torch.tensor([4]),
                         query_positions=positions)  # fmt: skip
    assert torch.equal(out.prev_sample[0, :4], tokens[0, :4]) and (out.pred_original_sample != MASK).all()


def test_scheduler_config_round_trip(tmp_path):
    scheduler = MaskGITScheduler(
        mask_token_id=7,
        masking_schedule="linear",
        choice_temperature=1.5,
        unmasking_order="halton",
        confidence_threshold=0.9,
    )
    scheduler.save_pretrained(tmp_path)
    assert (tmp_path / "scheduler_config.json").exists()
    loaded = MaskGITScheduler.from_pretrained(tmp_path)
    assert dict(loaded.config) == dict(scheduler.config)


def test_scheduler_bad_inputs_raise():
    scheduler = MaskGITScheduler(mask_token_id=MASK)
    with pytest.raises(ValueError, match="set_timesteps"):
        scheduler.step(torch.randn(1, 4, MASK), 0, torch.full((1, 4), MASK))
    with pytest.raises(ValueError, match="num_inference_steps"):
        scheduler.set_timesteps(0)
    scheduler.set_timesteps(3)
    with pytest.raises(ValueError, match="timestep"):
        scheduler.step(torch.randn(1, 4, MASK), 3, torch.full((1, 4), MASK))
    with pytest.raises(ValueError, match="only the codes"):
        scheduler.step(torch.randn(1, 4, MASK + 1), 0, torch.full((1, 4), MASK))
    with pytest.raises(ValueError, match="masking_schedule"):
        MaskGITScheduler(mask_token_id=MASK, masking_schedule="square")
