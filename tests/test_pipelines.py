import os
from unittest import mock

import numpy as np
import PIL.Image
import pytest
import torch

from mogent_hf import (
    ConceptLibrary,
    MOGENTModel,
    MOGENTPipeline,
    SLATEConfig,
    SLATEModel,
    SLATEPipeline,
    load_slot_pipeline,
    pipeline_for_model,
)


def test_pipeline_for_model_wraps_each_model_type(mogent_pipe, slate_pipe):
    pipe = pipeline_for_model(mogent_pipe.model)
    assert isinstance(pipe, MOGENTPipeline) and pipe.model is mogent_pipe.model
    assert pipe.scheduler.config.mask_token_id == mogent_pipe.model.config.mask_token_id
    assert isinstance(pipeline_for_model(slate_pipe.model), SLATEPipeline)
    with pytest.raises(TypeError, match="MOGENTModel or a SLATEModel, got Linear"):
        pipeline_for_model(torch.nn.Linear(2, 2))


def test_load_slot_pipeline_picks_the_class_that_model_index_names(mogent_pipe, slate_pipe, tmp_path):
    mogent_pipe.save_pretrained(tmp_path / "mogent")
    slate_pipe.save_pretrained(tmp_path / "slate")
    assert type(load_slot_pipeline(tmp_path / "mogent")) is MOGENTPipeline
    assert type(load_slot_pipeline(str(tmp_path / "slate"))) is SLATEPipeline
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(ValueError, match="neither a MOGENTPipeline nor a SLATEPipeline"):
        load_slot_pipeline(tmp_path / "other")


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_same_seed_same_images_and_different_seed_different(mogent_pipe, images):
    slots = mogent_pipe.encode(images).slots
    first = mogent_pipe(slots=slots, generator=seeded(0), output_type="np").images
    again = mogent_pipe(slots=slots, generator=seeded(0), output_type="np").images
    other = mogent_pipe(slots=slots, generator=seeded(1), output_type="np").images
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_a_list_of_generators_makes_each_image_independent_of_the_batch(mogent_pipe, images):
    slots = mogent_pipe.encode(images).slots
    both = mogent_pipe(slots=slots, generator=[seeded(0), seeded(1)], output_type="pt").tokens
    alone = mogent_pipe(slots=slots[1:], generator=[seeded(1)], output_type="pt").tokens
    assert torch.equal(both[1:], alone)


def test_output_types_have_the_documented_shapes_and_ranges(mogent_pipe, images):
    pil = mogent_pipe(images=images, output_type="pil").images
    assert len(pil) == 2 and isinstance(pil[0], PIL.Image.Image) and pil[0].size == (32, 32)
    array = mogent_pipe(images=images, output_type="np").images
    assert array.shape == (2, 32, 32, 3) and array.min() >= 0 and array.max() <= 1
    out = mogent_pipe(images=images, output_type="pt")
    assert out.images.shape == (2, 3, 32, 32) and out.images.min() >= 0 and out.images.max() <= 1
    assert out.tokens.shape == (2, 64) and out.slots.shape == (2, 3, 32) and out.slot_masks.shape == (2, 3, 32, 32)
    assert (out.tokens < mogent_pipe.model.config.vocab_size).all()  # no [MASK] left
    assert isinstance(mogent_pipe(images=images, return_dict=False), tuple)


def test_image_inputs_as_pil_uint8_array_and_tensor_agree(mogent_pipe, images):
    array = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    as_tensor = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255
    pil = [PIL.Image.fromarray(image) for image in array]
    reference = mogent_pipe.segment(as_tensor)
    assert torch.equal(mogent_pipe.segment(array), reference)
    assert torch.equal(mogent_pipe.segment(pil), reference)
    assert reference.shape == (2, 32, 32) and reference.max() < 3


def test_reconstruction_with_mask_ratio_zero_is_the_dvae_reconstruction_of_the_own_tokens(mogent_pipe, images):
    out = mogent_pipe(images=images, mask_ratio=0.0, output_type="pt")
    model = mogent_pipe.model
    tokens = model.encode(images).tokens
    assert torch.equal(out.tokens, tokens)
    assert torch.equal(out.images, model.decode_tokens(tokens).clamp(0, 1))


def test_reconstruction_keeps_the_unmasked_share_of_tokens(mogent_pipe, images):
    tokens = mogent_pipe.model.encode(images).tokens
    out = mogent_pipe(images=images, mask_ratio=0.25, generator=seeded(0), output_type="pt")
    assert ((out.tokens == tokens).sum(1) >= 48).all()


def test_progress_callback_sees_every_step(mogent_pipe, images):
    seen = []

    def callback(pipe, step, timestep, tensors):
        seen.append((step, int((tensors["tokens"] == pipe.model.config.mask_token_id).sum())))
        return tensors

    mogent_pipe(images=images, num_inference_steps=4, callback_on_step_end=callback)
    assert [step for step, _ in seen] == [0, 1, 2, 3] and seen[-1][1] == 0


def test_edit_keeps_every_token_outside_the_remasked_region(mogent_pipe, images):
    other = torch.rand(2, 3, 32, 32, generator=seeded(5))
    first, second = mogent_pipe.encode(images), mogent_pipe.encode(other)
    out = mogent_pipe.edit(images, other, swap=[(0, 1)], generator=seeded(0), output_type="pt")
    index0, index1 = torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long)
    region = mogent_pipe.token_regions(first.slot_masks, index0) | mogent_pipe.token_regions(second.slot_masks, index1)
    before = torch.cat([first.tokens, second.tokens])
    keep = ~torch.cat([region, region])
    assert torch.equal(out.tokens[keep], before[keep])
    assert torch.equal(out.slots[:2, 0], second.slots[:, 1]) and torch.equal(out.slots[2:, 1], first.slots[:, 0])
    assert out.images.shape == (4, 3, 32, 32)


def test_remove_replaces_the_slot_by_the_background_slot_and_keeps_other_tokens(mogent_pipe, images):
    encoded = mogent_pipe.encode(images)
    out = mogent_pipe.remove(images, slot_index=1, background_slot=2, output_type="pt")
    assert torch.equal(out.slots[:, 1], encoded.slots[:, 2])
    region = mogent_pipe.token_regions(encoded.slot_masks, torch.ones(2, dtype=torch.long))
    assert torch.equal(out.tokens[~region], encoded.tokens[~region])


def test_concept_library_compose_and_save(mogent_pipe, tmp_path):
    library = mogent_pipe.build_concept_library(torch.rand(12, 3, 32, 32, generator=seeded(2)), num_concepts=3)
    assert library.slots.shape == (36, 32) and set(library.labels.tolist()) == {0, 1, 2}
    library.save(str(tmp_path / "concepts.safetensors"))
    loaded = ConceptLibrary.load(str(tmp_path / "concepts.safetensors"))
    assert torch.equal(loaded.slots, library.slots) and loaded.num_concepts == 3
    composed = mogent_pipe.compose(2, str(tmp_path / "concepts.safetensors"), generator=seeded(0), output_type="pt")
    assert composed.images.shape == (2, 3, 32, 32)
    members = [set(library.labels[(library.slots == slot).all(1)].tolist()) for slot in composed.slots[0]]
    assert set().union(*members) == {0, 1, 2}  # one slot of each concept


def test_compose_by_shuffling_rolls_slot_i_by_i(mogent_pipe):
    batch = torch.rand(4, 3, 32, 32, generator=seeded(3))
    slots = mogent_pipe.encode(batch).slots
    out = mogent_pipe.compose_by_shuffling(batch, output_type="pt")
    for image in range(4):
        for slot in range(3):
            assert torch.equal(out.slots[image, slot], slots[(image + slot) % 4, slot])


def test_slate_pipeline_shares_the_interface(slate_pipe, images):
    out = slate_pipe(images=images, output_type="pt")
    assert out.images.shape == (2, 3, 32, 32)
    cached = slate_pipe(slots=out.slots, output_type="pt").tokens
    assert torch.equal(cached, slate_pipe(slots=out.slots, use_cache=False, output_type="pt").tokens)
    half = slate_pipe(images=images, mask_ratio=0.5, output_type="pt")
    assert torch.equal(half.tokens[:, :32], slate_pipe.model.encode(images).tokens[:, :32])
    assert slate_pipe.segment(images).shape == (2, 32, 32)
    assert slate_pipe.edit(images, images.flip(0), swap=[(0, 2)], output_type="pt").images.shape == (4, 3, 32, 32)


def test_pipeline_save_and_load_give_identical_seeded_output(mogent_pipe, images, tmp_path):
    mogent_pipe.save_pretrained(tmp_path)
    assert (tmp_path / "model_index.json").exists() and (tmp_path / "scheduler" / "scheduler_config.json").exists()
    loaded = MOGENTPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    first = mogent_pipe(images=images, mask_ratio=0.5, generator=seeded(4), output_type="np").images
    assert np.array_equal(first, loaded(images=images, mask_ratio=0.5, generator=seeded(4), output_type="np").images)


def test_bf16_weights_decode(mogent_pipe, images):
    model = MOGENTModel(mogent_pipe.model.config).eval().to(torch.bfloat16)
    model.load_state_dict(mogent_pipe.model.state_dict())
    pipe = MOGENTPipeline(model=model, scheduler=mogent_pipe.scheduler)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(images=images, output_type="pt")
    assert out.images.dtype == torch.float32 and out.images.shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(images=torch.rand(2, 5, 32, 32)), r"images.*got shape \(2, 5, 32, 32\)"),
        (dict(images=torch.rand(2, 3, 32, 32, 1)), r"images.*got shape \(2, 3, 32, 32, 1\)"),
        (dict(images=torch.rand(2, 3, 32, 32) * 2), r"images.*\[0, 1\]"),
        (dict(images=torch.rand(2, 3, 32, 32), mask_ratio=1.5), "mask_ratio"),
        (dict(images=torch.rand(2, 3, 32, 32), num_inference_steps=0), "num_inference_steps"),
        (dict(slots=torch.rand(2, 3, 16)), "slots"),
        (dict(), "exactly one"),
        (dict(images=torch.rand(1, 3, 32, 32), output_type="latent"), "output_type"),
        (dict(images=torch.rand(2, 3, 32, 32), generator=[torch.Generator()]), "generator"),
    ],
)
def test_bad_pipeline_inputs_raise_clear_errors(mogent_pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mogent_pipe(**kwargs)


def test_bad_edit_inputs_raise_clear_errors(mogent_pipe, images):
    with pytest.raises(ValueError, match="swap"):
        mogent_pipe.edit(images, images, swap=[(0, 3)])
    with pytest.raises(ValueError, match="slot_index"):
        mogent_pipe.remove(images, slot_index=-1)
    library = ConceptLibrary(torch.rand(5, 8), torch.zeros(5, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="library.*size 8"):
        mogent_pipe.compose(1, library)


def test_optimised_maskgit_decoding_equals_the_unoptimised_loop(mogent_pipe):
    """Head only at masked positions, slots' cross-attention folded once, exact sampler: the same tokens as the
    naive loop of the benchmark (fp32, greedy), and within tolerance in bf16."""
    from generation import (
        allocating_sampler,
        flat_inverse_cdf,
        last_block_on_all_rows,
        naive_maskgit_tokens,
        sampler_replaced,
        unfolded_slot_attention,
    )

    slots = torch.randn(3, mogent_pipe.model.config.num_slots, mogent_pipe.model.config.slot_size)
    model = mogent_pipe.model
    with mock.patch.object(model, "fold_slot_attention", wraps=model.fold_slot_attention) as fold:
        optimised = mogent_pipe(slots=slots, num_inference_steps=6, temperature=0.0, output_type="pt").tokens
    assert fold.call_count == 1  # once per call, not once per step
    naive = naive_maskgit_tokens(mogent_pipe, slots, 6, generator=None, greedy=True)
    assert torch.equal(optimised, naive)
    with last_block_on_all_rows(mogent_pipe.model.decoder):  # the benchmark's "before" of the last-block rows
        full_last_block = mogent_pipe(slots=slots, num_inference_steps=6, temperature=0.0, output_type="pt").tokens
    assert torch.equal(full_last_block, optimised) and "forward" not in vars(mogent_pipe.model.decoder)
    with unfolded_slot_attention(mogent_pipe.model):  # the benchmark's "before" of folding the slots
        with_slot_kv = mogent_pipe(slots=slots, num_inference_steps=6, temperature=0.0, output_type="pt").tokens
    assert torch.equal(with_slot_kv, optimised) and "fold_slot_attention" not in vars(mogent_pipe.model)
    from mogent_hf import scheduling_maskgit

    def decode_sampled(slots):
        return mogent_pipe(
            slots=slots, num_inference_steps=6, temperature=1.0, generator=torch.Generator().manual_seed(1)
        ).tokens

    sampled = decode_sampled(slots)
    with sampler_replaced(flat_inverse_cdf):  # the benchmark's "before" of the two-level sampler
        assert scheduling_maskgit.sample_tokens is flat_inverse_cdf
        flat = decode_sampled(slots)
    assert torch.equal(flat, sampled) and scheduling_maskgit.sample_tokens is not flat_inverse_cdf
    mogent_pipe.to(dtype=torch.bfloat16)
    try:
        bf16 = mogent_pipe(slots=slots.bfloat16(), num_inference_steps=6, temperature=0.0, output_type="pt").tokens
        naive_bf16 = naive_maskgit_tokens(mogent_pipe, slots.bfloat16(), 6, generator=None, greedy=True)
        sampled_bf16 = decode_sampled(slots.bfloat16())
        with sampler_replaced(allocating_sampler):  # the "before" of sampling in place in the fp32 copy
            allocating_bf16 = decode_sampled(slots.bfloat16())
    finally:
        mogent_pipe.to(dtype=torch.float32)
    assert (bf16 == naive_bf16).float().mean() > 0.9
    assert torch.equal(allocating_bf16, sampled_bf16)


@pytest.mark.skipif(
    "ATEN_CPU_CAPABILITY" in os.environ,
    reason="ATen's kernels forced below the CPU's own level (an emulated host): the compiled decoder's logits come out "
    "NaN there, while inductor still generates code for the CPU itself",
)
def test_benchmarks_compiled_decoder_gives_the_same_tokens_and_compiles_once(mogent_pipe):
    """`pipe.model.decoder` under torch.compile (the benchmark's mogent_compiled mode): the eager tokens (fp32,
    greedy), one compilation reused by the next call, and the eager decoder back after the block."""
    from generation import compiled_decoder

    slots = torch.randn(2, mogent_pipe.model.config.num_slots, mogent_pipe.model.config.slot_size)
    eager_decoder = mogent_pipe.model.decoder
    eager = mogent_pipe(slots=slots, num_inference_steps=6, temperature=0.0, output_type="pt").tokens
    with mock.patch.object(torch, "compile", wraps=torch.compile) as compile_call:
        for _ in range(2):
            with compiled_decoder(mogent_pipe.model):
                assert mogent_pipe.model.decoder is not eager_decoder
                compiled = mogent_pipe(slots=slots, num_inference_steps=6, temperature=0.0, output_type="pt").tokens
            assert torch.equal(compiled, eager)
    assert compile_call.call_count == 1 and mogent_pipe.model.decoder is eager_decoder


def test_benchmarks_official_slate_loop_gives_the_uncached_tokens(slate_pipe):
    """The benchmark's op-for-op replica of the official SLATE decoding loop (one-hot prefixes, masked matmul
    attention) decodes the tokens of `generate_tokens(use_cache=False)` (greedy, fp32), through its
    `generation` mode as well; a RoPE model, which the official code cannot express, is refused."""
    from generation import decode_call
    from slate_official_loop import official_slate_tokens

    model = slate_pipe.model
    slots = torch.randn(3, model.config.num_slots, model.config.slot_size, generator=torch.Generator().manual_seed(2))
    uncached = model.generate_tokens(slots, use_cache=False)
    assert torch.equal(official_slate_tokens(model, slots), uncached)
    images = decode_call("slate_official_loop", slate_pipe, slots, None)()
    assert torch.equal(images, model.decode_tokens(uncached))
    torch.manual_seed(0)  # with the official first block (`is_first`) too
    official = SLATEModel(SLATEConfig.from_preset("tiny", normalize_decoder_input=True)).eval()
    official_tokens = official_slate_tokens(official, slots)
    assert torch.equal(official_tokens, official.generate_tokens(slots, use_cache=False))
    assert not torch.equal(official_tokens, uncached)
    rope = SLATEModel(SLATEConfig.from_preset("tiny", position_encoding="rope")).eval()
    with pytest.raises(ValueError, match="position_encoding='rope'"):
        official_slate_tokens(rope, slots)
