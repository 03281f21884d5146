"""Issue 40: where `segment` reads the slot masks (Slot Attention, the decoder's cross-attention, both combined), and
the SPOT-style self-distillation of Slot Attention from the decoder."""

from contextlib import contextmanager
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from mogent_hf.pipelines.pipeline_utils import MASK_SOURCES, combine_attention

from mogent_hf import (
    MOGENTConfig,
    MOGENTModel,
)
from mogent_hf.modules.slot_distillation import matched_teacher_labels, slot_distillation_loss


@contextmanager
def recorded_cross_attention(model):
    """Each decoder block's cross-attention weights (B,H,L,K), recorded by wrapping `attend` (as
    research/scripts/measure_mask_errors.py read them before the decoder could return them)."""
    weights = []
    originals = [block.cross_attention.attend for block in model.decoder.blocks]

    def recording(original):
        def attend(queries, keys, values, causal):
            weights.append(torch.softmax(queries @ keys.transpose(-1, -2) * queries.shape[-1] ** -0.5, dim=-1))
            return original(queries, keys, values, causal)

        return attend

    for block, original in zip(model.decoder.blocks, originals):
        block.cross_attention.attend = recording(original)
    try:
        yield weights
    finally:
        for block, original in zip(model.decoder.blocks, originals):
            block.cross_attention.attend = original


# ---- mask sources ----------------------------------------------------------------------------------------------
SOURCES_AND_BLOCKS = [("slot_attention", None)] + [
    (source, block) for source in MASK_SOURCES if source != "slot_attention" for block in (None, 0, -1)
]


@pytest.mark.parametrize("pipe_name", ["mogent_pipe", "slate_pipe"])
@pytest.mark.parametrize("mask_source, decoder_block", SOURCES_AND_BLOCKS)
def test_every_mask_source_gives_a_label_map_of_slot_indices(request, pipe_name, mask_source, decoder_block, images):
    pipe = request.getfixturevalue(pipe_name)
    labels = pipe.segment(images, mask_source=mask_source, decoder_block=decoder_block)
    assert labels.shape == (2, 32, 32) and labels.dtype == torch.long
    assert 0 <= labels.min() and labels.max() < pipe.model.config.num_slots
    at_input = pipe.segment(list(images), to_input_size=True, mask_source=mask_source, decoder_block=decoder_block)
    assert [tuple(label_map.shape) for label_map in at_input] == [(32, 32), (32, 32)]


def test_the_slot_attention_source_is_the_argmax_of_the_bilinearly_upsampled_attention(mogent_pipe, images):
    encoded = mogent_pipe.encode(images)
    grid = encoded.attention.unflatten(-1, (8, 8))  # tiny: 32 px, 8×8 tokens
    expected = F.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=False).argmax(1)
    assert torch.equal(mogent_pipe.segment(images, mask_source="slot_attention"), expected)
    assert torch.equal(mogent_pipe.segment(images, mask_source="slot_attention"), encoded.slot_masks.argmax(1))


def test_slate_keeps_slot_attention_and_mogent_defaults_to_the_combined_masks(mogent_pipe, slate_pipe, images):
    assert torch.equal(slate_pipe.segment(images), slate_pipe.encode(images).slot_masks.argmax(1))
    combined = mogent_pipe.segment(images, mask_source="combined")
    assert torch.equal(mogent_pipe.segment(images), combined)
    assert not torch.equal(combined, mogent_pipe.segment(images, mask_source="slot_attention"))


def test_decoder_maps_are_upsampled_bilinearly_before_the_argmax(mogent_pipe, images):
    maps = torch.rand(2, 2, 4, 64, generator=torch.Generator().manual_seed(1))  # (blocks,B,K,L), 8×8 tokens
    maps = maps / maps.sum(2, keepdim=True)
    with mock.patch.object(mogent_pipe.model, "decoder_attention", return_value=maps):
        labels = mogent_pipe.segment(images, mask_source="decoder", decoder_block=1)
    grid = maps[1].unflatten(-1, (8, 8))
    assert torch.equal(labels, F.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=False).argmax(1))
    repeated = grid.argmax(1).repeat_interleave(4, 1).repeat_interleave(4, 2)  # the 8×8 argmax repeated to pixels
    assert not torch.equal(labels, repeated)  # boundaries move inside a token's 4×4 patch


def test_bilinear_upsampling_moves_a_boundary_into_the_weaker_token(mogent_pipe):
    """Two neighbouring tokens where slot 1 has 0.3 and 0.9: by the grid's argmax the left token is slot 0's; after
    bilinear upsampling its pixel nearest the right token (0.375 of a token away) has 0.525 for slot 1."""
    slot_one = torch.full((8, 8), 0.3)
    slot_one[:, 4:] = 0.9
    attention = torch.stack([1 - slot_one, slot_one]).flatten(1)[None]  # (1,2,64)
    labels = mogent_pipe.model.attention_to_masks(attention).argmax(1)[0]  # (32,32)
    assert labels[0, :15].eq(0).all() and labels[0, 15:].eq(1).all()  # token 3 covers pixels 12–15


def test_decoder_attention_is_the_heads_mean_of_each_blocks_cross_attention(mogent_pipe, slate_pipe, images):
    for pipe in (mogent_pipe, slate_pipe):
        model = pipe.model
        encoded = pipe.encode(images)
        maps = model.decoder_attention(encoded.tokens, encoded.slots)
        assert maps.shape == (model.config.num_decoder_layers, 2, model.config.num_slots, model.config.num_tokens)
        torch.testing.assert_close(maps.sum(2), torch.ones(maps.shape[0], 2, maps.shape[-1]))
        with recorded_cross_attention(model) as weights:
            if isinstance(model, MOGENTModel):  # the decoder reads the slots alone: every token masked
                masked = torch.full_like(encoded.tokens, model.config.mask_token_id)
                model.token_logits(masked, encoded.slots)
            else:  # teacher-forced on the image's tokens
                model.token_logits(encoded.tokens, encoded.slots)
        expected = torch.stack([w.mean(1).transpose(1, 2) for w in weights])
        torch.testing.assert_close(maps, expected)


def test_combined_masks_average_the_two_distributions():
    slot_attention = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])  # (B,K,L)
    decoder = torch.tensor([[[0.3, 0.6], [0.7, 0.4]]])
    combined = combine_attention(slot_attention, decoder)
    torch.testing.assert_close(combined, torch.tensor([[[0.6, 0.4], [0.4, 0.6]]]))


def test_combined_masks_resize_the_decoders_token_grid_onto_a_finer_slot_attention_grid():
    slot_attention = torch.rand(1, 2, 16)  # 4×4 cells
    slot_attention = slot_attention / slot_attention.sum(1, keepdim=True)
    decoder = torch.tensor([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]])  # 2×2 tokens
    combined = combine_attention(slot_attention, decoder)
    resized = F.interpolate(decoder.unflatten(-1, (2, 2)), size=(4, 4), mode="bilinear").flatten(-2)
    torch.testing.assert_close(combined, (slot_attention + resized) / 2)
    torch.testing.assert_close(combined.sum(1), torch.ones(1, 16))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mask_source="decoders"), "`mask_source` must be one of"),
        (dict(mask_source="decoder", decoder_block=2), r"`decoder_block` must be None .* in \[-2, 2\)"),
        (dict(mask_source="slot_attention", decoder_block=0), "`decoder_block` .* reads the decoder"),
    ],
)
def test_bad_mask_sources_raise_clear_errors(mogent_pipe, images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mogent_pipe.segment(images, **kwargs)


# ---- self-distillation -----------------------------------------------------------------------------------------
def test_matching_renames_teacher_slots_to_the_student_slots_of_largest_overlap():
    student = torch.tensor([[0, 0, 1, 1, 2, 2]])
    teacher = torch.tensor([[2, 2, 0, 0, 1, 1]])  # the same masks under other names
    assert torch.equal(matched_teacher_labels(teacher, student, 3), student)
    # teacher slot 0 = pixels 0–2: IoU 2/3 with student slot 0, 1/4 with slot 1; teacher slot 1 = pixel 3: IoU 1/2
    # with slot 1, 0 with slot 0; one-to-one, 0 → 0 and 1 → 1 (2/3 + 1/2) beats 0 → 1 and 1 → 0 (1/4 + 0)
    student = torch.tensor([[0, 0, 1, 1, 2, 2]])
    teacher = torch.tensor([[0, 0, 0, 1, 2, 2]])
    assert torch.equal(matched_teacher_labels(teacher, student, 3), torch.tensor([[0, 0, 0, 1, 2, 2]]))
    teacher = torch.tensor([[1, 1, 1, 0, 2, 2]])  # the same masks with slots 0 and 1 renamed
    assert torch.equal(matched_teacher_labels(teacher, student, 3), torch.tensor([[0, 0, 0, 1, 2, 2]]))


def test_distillation_loss_is_the_cross_entropy_against_the_matched_teacher_argmax():
    logits = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    teacher = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(1)).softmax(1)
    targets = matched_teacher_labels(teacher.argmax(1), logits.argmax(1), 3)
    loss = slot_distillation_loss(logits, teacher)
    torch.testing.assert_close(loss, -logits.log_softmax(1).gather(1, targets[:, None]).mean())
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def seeded_pass(model, pixels, **kwargs):
    """A training pass whose draws are all seeded (the generator's, and dropout's from the global RNG)."""
    torch.manual_seed(2)
    return model(pixels, generator=torch.Generator().manual_seed(1), **kwargs)


def test_distillation_off_leaves_the_papers_loss():
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).train()
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    plain = seeded_pass(model, pixels)
    off = seeded_pass(model, pixels, slot_distillation_weight=0.0)
    assert torch.equal(off.loss, plain.loss) and off.slot_distillation_cross_entropy is None
    assert torch.equal(plain.loss, plain.dvae_mse + plain.cross_entropy)  # tiny: no entropy or mixture term


def test_distillation_adds_its_weighted_term_whose_gradient_reaches_only_the_slot_encoder():
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).train()
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    off = seeded_pass(model, pixels)
    on = seeded_pass(model, pixels, slot_distillation_weight=0.25)
    assert on.slot_distillation_cross_entropy > 0
    torch.testing.assert_close(on.loss, off.loss + 0.25 * on.slot_distillation_cross_entropy)
    model.zero_grad()
    on.slot_distillation_cross_entropy.backward()
    reached = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(name.startswith("slot_encoder.slot_attention.") for name in reached)
    # the slot encoder and the embeddings it reads its tokens with; never the decoder, its head or the DVAE
    allowed = ("slot_encoder.", "token_embedding.weight", "position_embedding")
    assert all(name.startswith(allowed) for name in reached), reached
    with pytest.raises(ValueError, match="`slot_distillation_weight` must be >= 0"):
        model(pixels, slot_distillation_weight=-1.0)


def test_a_frozen_teachers_masks_replace_the_models_own_decoder_as_the_target():
    import mogent_hf.modeling_mogent as modeling

    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).train()
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    num_slots = model.config.num_slots
    stripes = torch.arange(64) // 8 % num_slots  # a teacher that cuts the 8×8 grid into horizontal bands
    teacher = F.one_hot(stripes, num_slots).T.float()[None].expand(2, -1, -1)
    with mock.patch.object(modeling, "slot_distillation_loss", wraps=slot_distillation_loss) as loss:
        own = seeded_pass(model, pixels, slot_distillation_weight=0.25)
        taught = seeded_pass(model, pixels, slot_distillation_weight=0.25, slot_distillation_teacher=teacher)
    assert loss.call_args_list[1].args[1] is teacher  # the teacher given, not the model's decoder
    assert not torch.equal(loss.call_args_list[0].args[1], teacher)
    torch.testing.assert_close(loss.call_args_list[1].args[0], loss.call_args_list[0].args[0])  # same logits
    torch.testing.assert_close(taught.cross_entropy, own.cross_entropy)  # the rest of the pass unchanged
    assert taught.slot_distillation_cross_entropy != own.slot_distillation_cross_entropy
    with pytest.raises(ValueError, match="`slot_distillation_teacher` must be masks"):
        seeded_pass(model, pixels, slot_distillation_weight=0.25, slot_distillation_teacher=teacher[:, :2])
