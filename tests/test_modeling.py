import json
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from mogent_hf import MOGENTConfig, MOGENTModel, SLATEConfig, SLATEModel
from mogent_hf.modeling_base import token_cross_entropy
from mogent_hf.modules import SlotMixtureTokenDecoder, num_masked_tokens, random_token_mask

MODELS = [(MOGENTConfig, MOGENTModel), (SLATEConfig, SLATEModel)]


def tiny(model_cls, config_cls, **overrides):
    torch.manual_seed(0)
    return model_cls(config_cls.from_preset("tiny", **overrides))


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_forward_output_shapes(config_cls, model_cls, images):
    model = tiny(model_cls, config_cls)
    out = model(images, tau=0.5, sigma=0.5)
    config = model.config
    assert out.loss.shape == () and torch.isfinite(out.loss)
    assert torch.allclose(out.loss, out.dvae_mse + out.cross_entropy)
    assert out.reconstruction.shape == images.shape
    assert out.logits.shape == (2, config.num_tokens, config.vocab_size)
    assert out.tokens.shape == (2, config.num_tokens) and out.tokens.dtype == torch.long
    assert out.slots.shape == (2, config.num_slots, config.slot_size)
    assert out.slot_masks.shape == (2, config.num_slots, 32, 32)
    assert torch.allclose(out.slot_masks.sum(1), torch.ones(2, 32, 32), atol=1e-5)
    encoded = model.eval().encode(images)
    assert encoded.attention.shape == (2, config.num_slots, config.num_tokens)
    assert model.decode_tokens(encoded.tokens).shape == images.shape


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_save_and_reload_give_identical_outputs_and_automodel_picks_the_class(config_cls, model_cls, images, tmp_path):
    model = tiny(model_cls, config_cls, position_encoding="rope").eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is model_cls
    loaded.eval()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    first = model.encode(images, generator=torch.Generator().manual_seed(1))
    second = loaded.encode(images, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first.slots, second.slots) and torch.equal(first.slot_masks, second.slot_masks)
    kv = model.slot_kv(first.slots)
    if model_cls is MOGENTModel:
        masked = first.tokens.masked_fill(torch.rand(first.tokens.shape) < 0.5, model.config.mask_token_id)
        assert torch.equal(model.token_logits(masked, slot_kv=kv), loaded.token_logits(masked, first.slots))
    else:
        assert torch.equal(model.generate_tokens(first.slots), loaded.generate_tokens(first.slots))


@pytest.mark.parametrize("position_encoding, normalize", [("learned", False), ("rope", False), ("learned", True)])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_slate_kv_cached_generation_equals_uncached(position_encoding, normalize, temperature, images):
    model = tiny(SLATEModel, SLATEConfig, position_encoding=position_encoding, normalize_decoder_input=normalize)
    model.eval()
    slots = model.encode(images).slots
    with mock.patch.object(model, "fold_slot_attention", wraps=model.fold_slot_attention) as fold:
        cached = model.generate_tokens(slots, temperature=temperature, generator=torch.Generator().manual_seed(3))
    assert fold.call_count == 1  # the cached loop folds the slots once; the official uncached loop does not
    uncached = model.generate_tokens(
        slots, use_cache=False, temperature=temperature, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(cached, uncached)


def test_slate_cached_step_logits_match_teacher_forcing(images):
    model = tiny(SLATEModel, SLATEConfig).eval()
    encoded = model.encode(images)
    tokens = model.generate_tokens(encoded.slots)
    teacher = model.token_logits(tokens, encoded.slots)  # (B,L,V)
    assert torch.equal(teacher.argmax(-1), tokens)


@pytest.mark.parametrize("position_encoding, normalize", [("learned", False), ("rope", False), ("learned", True)])
def test_mogent_logits_at_query_positions_are_the_rows_of_the_full_logits(position_encoding, normalize, images):
    # query_positions computes the last block and the head only at those rows (the decoding loop's masked ones)
    config = dict(position_encoding=position_encoding, normalize_decoder_input=normalize)
    if normalize:
        config["num_decoder_layers"] = 1  # the first block is also the pruned last one
    model = tiny(MOGENTModel, MOGENTConfig, **config).eval()
    slots = model.encode(images).slots
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, model.config.vocab_size, (2, model.config.num_tokens), generator=generator)
    tokens[torch.rand(tokens.shape, generator=generator) < 0.5] = model.config.mask_token_id
    positions = torch.stack([torch.randperm(model.config.num_tokens, generator=generator)[:20] for _ in range(2)])
    full = model.token_logits(tokens, slots)  # (B,L,V)
    rows = model.token_logits(tokens, slots, query_positions=positions)  # (B,20,V)
    assert rows.shape == (2, 20, model.config.vocab_size)
    torch.testing.assert_close(rows, full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1])))


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_normalize_decoder_input_changes_the_first_blocks_function_not_the_parameters(
    config_cls, model_cls, images, tmp_path
):
    # the official SLATE code's first block continues from LN(x) (`is_first`); ours does so only when asked
    plain = tiny(model_cls, config_cls).eval()
    official = tiny(model_cls, config_cls, normalize_decoder_input=True).eval()
    assert [block.normalize_input for block in official.decoder.blocks] == [True, False]
    assert not any(block.normalize_input for block in plain.decoder.blocks)
    plain_state, official_state = plain.state_dict(), official.state_dict()
    assert plain_state.keys() == official_state.keys()
    assert all(torch.equal(plain_state[name], official_state[name]) for name in plain_state)  # same seed, weights
    tokens = plain.encode(images).tokens
    slots = torch.randn(2, plain.config.num_slots, plain.config.slot_size, generator=torch.Generator().manual_seed(0))
    slot_kv = official.slot_kv(slots)[0]
    embedded = official.embed_tokens(tokens, slice(0, tokens.shape[1]))  # (B,L,d)
    block = official.decoder.blocks[0]  # by hand: x ← LN(x); x + SelfAttn(x); then as every pre-LN block
    hidden = block.norm_self(embedded)
    attention = block.self_attention
    queries, (keys, values) = attention.split_heads(attention.project_q(hidden)), attention.keys_values(hidden)
    hidden = hidden + attention.attend(queries, keys, values, causal=model_cls is SLATEModel)
    queries = block.cross_attention.split_heads(block.cross_attention.project_q(block.norm_cross(hidden)))
    hidden = hidden + block.cross_attention.attend(queries, *slot_kv, causal=False)
    hidden = hidden + block.mlp(block.norm_mlp(hidden))
    torch.testing.assert_close(block(embedded, slot_kv), hidden)
    assert not torch.allclose(plain.decoder.blocks[0](embedded, slot_kv), hidden, atol=1e-3)
    assert not torch.allclose(official.token_logits(tokens, slots), plain.token_logits(tokens, slots), atol=1e-3)
    official.save_pretrained(tmp_path)
    assert type(official).from_pretrained(tmp_path).config.normalize_decoder_input is True
    config = json.loads((tmp_path / "config.json").read_text())
    del config["normalize_decoder_input"]  # a checkpoint saved before the field existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert type(official).from_pretrained(tmp_path).config.normalize_decoder_input is False


@pytest.mark.parametrize("position_encoding", ["learned", "rope"])
@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_folded_slot_attention_gives_the_logits_of_slot_keys_values(config_cls, model_cls, position_encoding, images):
    # decoding loops fold each block's q/o projections into the slots once per image: same function, fewer FLOPs
    model = tiny(model_cls, config_cls, position_encoding=position_encoding).eval()
    slots = model.encode(images).slots
    folded = model.fold_slot_attention(slots)
    heads, num_slots, d_model = model.config.num_heads, model.config.num_slots, model.config.d_model
    assert len(folded) == model.config.num_decoder_layers
    assert folded[0].score_map.shape == folded[0].value_map.shape == (2, heads * num_slots, d_model)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, model.config.vocab_size, (2, model.config.num_tokens), generator=generator)
    reference = model.token_logits(tokens, slot_kv=model.slot_kv(slots))
    torch.testing.assert_close(model.token_logits(tokens, slot_kv=folded), reference, atol=1e-5, rtol=1e-5)
    for image in (slice(0, 1), slice(1, 2)):  # one image takes the 2-D matmul path: the numbers of its batch row
        alone = model.token_logits(tokens[image], slot_kv=model.fold_slot_attention(slots[image]))
        torch.testing.assert_close(alone, reference[image], atol=1e-5, rtol=1e-5)
    model.to(torch.bfloat16)
    bf16 = model.token_logits(tokens, slot_kv=model.fold_slot_attention(slots.bfloat16()))
    assert (bf16.float() - reference).abs().max() < 0.05 * reference.abs().max()
    with pytest.raises(ValueError, match="slots"):
        model.fold_slot_attention(slots[..., :-1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dvae_decodes_tokens_as_their_one_hot_codes(dtype):
    from mogent_hf.modules.dvae import DVAE

    torch.manual_seed(0)
    dvae = DVAE(vocab_size=40, hidden_size=16).to(dtype).eval()
    tokens = torch.randint(0, 40, (2, 4, 5))
    one_hot = torch.nn.functional.one_hot(tokens, 40).permute(0, 3, 1, 2).to(dtype)  # (B,V,h,w)
    with torch.no_grad():
        looked_up = dvae.decode_tokens(tokens)
        assert looked_up.shape == (2, 3, 16, 20)
        assert torch.equal(looked_up, dvae.decode_codes(one_hot))  # the weight column is the 1x1 conv of a one-hot


def test_default_dvae_is_slates_layout_so_saved_checkpoints_compute_as_before():
    """`dvae_patch_size` defaults to 4: SLATE's 4×4 stride-4 patch conv and two PixelShuffle stages, written out here
    as the DVAE was before the field existed; the same state dict loads into both and gives the same codes and
    images. The shipped checkpoints (saved without the field) load with it, every key in place."""
    from pathlib import Path

    from torch import nn

    from mogent_hf.modules.dvae import DVAE, ConvBlock, _upsample_stage

    torch.manual_seed(0)
    dvae = DVAE(vocab_size=40, hidden_size=16).eval()
    encoder = nn.Sequential(
        ConvBlock(3, 16, 4, stride=4), *[ConvBlock(16, 16, 1) for _ in range(6)], nn.Conv2d(16, 40, 1)
    )
    decoder = nn.Sequential(ConvBlock(40, 16, 1), *_upsample_stage(16), *_upsample_stage(16), nn.Conv2d(16, 3, 1))
    reference = nn.ModuleDict({"encoder": encoder, "decoder": decoder}).eval()
    reference.load_state_dict(dvae.state_dict(), strict=True)
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        log_probs = dvae.code_log_probs(image)
        assert log_probs.shape == (2, 40, 8, 8)
        torch.testing.assert_close(log_probs, reference.encoder(image).log_softmax(dim=1), rtol=0, atol=0)
        codes = log_probs.exp()
        torch.testing.assert_close(dvae.decode_codes(codes), reference.decoder(codes), rtol=0, atol=0)

    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "mogent-small-full" / "model"
    model, info = MOGENTModel.from_pretrained(shipped, output_loading_info=True)
    assert model.config.dvae_patch_size == 4 and model.config.tokens_per_side == 16
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_dvae_patch_size_2_gives_a_token_grid_twice_as_fine(config_cls, model_cls, images):
    """32 px images with 2-pixel patches: a 16 × 16 token grid (the default gives 8 × 8), slot masks and DVAE and
    decoded images at the image size, and a finite loss that reaches every part."""
    model = tiny(model_cls, config_cls, dvae_patch_size=2)
    assert model.config.tokens_per_side == 16 and model.config.num_tokens == 256
    assert model.position_embedding.shape[1] == 256 + model.encoder_position_offset
    output = model(images, tau=0.5, sigma=0.5)
    assert output.tokens.shape == (2, 256) and output.reconstruction.shape == images.shape
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert model.dvae.encoder[0][0].weight.shape[-2:] == (2, 2) and model.dvae.encoder[0][0].weight.grad is not None
    assert model.slot_projection.weight.grad is not None
    with torch.no_grad():
        encoded = model.encode(images, generator=torch.Generator().manual_seed(0))
        assert encoded.slot_masks.shape == (2, model.config.num_slots, 32, 32)
        assert model.decode_tokens(encoded.tokens).shape == images.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dvae_relaxed_codes_are_a_gumbel_softmax_sample(dtype):
    """Soft one-hots in the input's dtype whose argmax is distributed as softmax(log_probs) (the Gumbel-max trick,
    as `F.gumbel_softmax`), with gradients, and whose noise has the Gumbel mean (Euler's γ) and variance (π²/6)."""
    from mogent_hf.modules import gumbel_noise
    from mogent_hf.modules.dvae import DVAE

    dvae = DVAE(vocab_size=4, hidden_size=8)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    log_probs = probs.log()[None, :, None, None].expand(1, 4, 100, 100).to(dtype).requires_grad_()
    torch.manual_seed(0)
    codes = dvae.relaxed_codes(log_probs, tau=0.5)
    assert codes.shape == log_probs.shape and codes.dtype == dtype
    assert torch.allclose(codes.float().sum(dim=1), torch.ones(1, 100, 100), atol=1e-2)
    frequencies = torch.bincount(codes.argmax(dim=1).flatten(), minlength=4) / 10_000
    assert torch.allclose(frequencies, probs, atol=0.015)  # 10,000 draws: standard error ≤ 0.005
    codes[:, 0].sum().backward()
    assert log_probs.grad is not None and log_probs.grad.abs().sum() > 0
    noise = gumbel_noise((100_000,), torch.Generator().manual_seed(0))
    assert noise.mean().item() == pytest.approx(0.5772, abs=0.01) and noise.var().item() == pytest.approx(
        math.pi**2 / 6, abs=0.03)  # fmt: skip


def test_folded_cross_attention_drops_attention_weights_in_training():
    from mogent_hf.modules.transformer import MultiHeadAttention

    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=16, num_heads=4, dropout=1.0)
    slots, states = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    folded = attention.fold_slots(slots)
    assert torch.equal(attention.attend_folded(states, folded), torch.zeros(2, 5, 16))  # every weight dropped
    attention.eval()
    queries = attention.split_heads(attention.project_q(states))
    unfolded = attention.attend(queries, *attention.keys_values(slots), causal=False)
    torch.testing.assert_close(attention.attend_folded(states, folded), unfolded)


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_cnn_slot_input_reads_the_pixels_and_survives_save_and_reload(config_cls, model_cls, images, tmp_path):
    assert tiny(model_cls, config_cls).feature_encoder is None  # the paper's path: token embeddings
    model = tiny(model_cls, config_cls, slot_input="cnn").eval()
    generator = torch.Generator().manual_seed(0)
    encoded = model.encode(images, generator=generator)
    with torch.no_grad():  # the slots follow the CNN's weights; the tokens do not
        model.feature_encoder.layers[0].weight.add_(torch.randn(model.feature_encoder.layers[0].weight.shape))
    changed = model.encode(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(changed.tokens, encoded.tokens) and not torch.allclose(changed.slots, encoded.slots)
    model(images, tau=1.0, sigma=1.0).loss.backward()
    assert model.feature_encoder.layers[0].weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded.encode(images, generator=torch.Generator().manual_seed(0)).slots, changed.slots)


@pytest.mark.parametrize("stride", [2, 1])
def test_a_finer_cnn_grid_gives_finer_slot_attention_while_the_decoder_keeps_its_tokens(images, tmp_path, stride):
    model = tiny(MOGENTModel, MOGENTConfig, slot_input="cnn", slot_input_stride=stride).eval()
    side = 32 // stride  # tiny: 32 px images, 8×8 tokens
    encoded = model.encode(images)
    assert encoded.tokens.shape == (2, 64) and encoded.attention.shape == (2, model.config.num_slots, side * side)
    torch.testing.assert_close(encoded.attention.sum(1), torch.ones(2, side * side))
    expected = F.interpolate(encoded.attention.unflatten(-1, (side, side)), size=(32, 32), mode="bilinear")
    torch.testing.assert_close(encoded.slot_masks, expected)
    # the soft positions tell the cells apart: without them, a uniform image gives every cell the same attention
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert encoded.attention.std() > 0 and model.encode(flat).attention[0].std(-1).max() > 1e-4
    with torch.no_grad():
        model.feature_positions.projection.weight.zero_()
    assert model.encode(flat).attention[0].std(-1).max() < 1e-5
    model.train()
    output = model(images, tau=1.0, sigma=0.0, slot_distillation_weight=0.1)  # the teacher resized onto the grid
    output.loss.backward()
    assert model.feature_positions.projection.bias.grad.abs().sum() > 0
    model.eval().save_pretrained(tmp_path / "fine")
    reloaded = AutoModel.from_pretrained(tmp_path / "fine").eval()
    assert torch.equal(reloaded.encode(images).attention, model.encode(images).attention)
    # a token-input model warm-starts the path (as train.py's fine-tuning flags): the new parts initialised
    tiny(MOGENTModel, MOGENTConfig).save_pretrained(tmp_path / "tokens")
    config = MOGENTConfig.from_pretrained(tmp_path / "tokens")
    config.update(dict(slot_input="cnn", slot_input_stride=stride))
    warm = MOGENTModel.from_pretrained(tmp_path / "tokens", config=config).eval()
    assert warm.encode(images).attention.isfinite().all()


@pytest.mark.parametrize("stride", [4, 2])
def test_tokens_and_cnn_starts_from_the_token_models_own_slots_on_a_finer_grid(images, tmp_path, stride):
    tokens_model = tiny(MOGENTModel, MOGENTConfig).eval()
    tokens_model.save_pretrained(tmp_path / "tokens")
    config = MOGENTConfig.from_pretrained(tmp_path / "tokens")
    config.update(dict(slot_input="tokens_and_cnn", slot_input_stride=stride))
    warm = MOGENTModel.from_pretrained(tmp_path / "tokens", config=config).eval()  # the CNN freshly initialised
    assert warm.feature_encoder.layers[-1].weight.abs().sum() == 0 and warm.feature_positions is None
    before, after = tokens_model.encode(images), warm.encode(images)
    side = 32 // stride
    assert after.attention.shape == (2, config.num_slots, side * side)
    torch.testing.assert_close(after.slots, before.slots, atol=1e-5, rtol=1e-5)  # each token repeated: same means
    repeated = before.attention.unflatten(-1, (8, 8)).repeat_interleave(4 // stride, -1)
    torch.testing.assert_close(after.attention, repeated.repeat_interleave(4 // stride, -2).flatten(2), atol=1e-5,
                               rtol=1e-5)  # fmt: skip
    warm.train()
    warm(images, tau=1.0).loss.backward()  # the CNN learns from there
    assert warm.feature_encoder.layers[-1].weight.grad.abs().sum() > 0
    assert tiny(MOGENTModel, MOGENTConfig, slot_input="tokens_and_cnn").feature_encoder.layers[-1].bias.eq(0).all()


@pytest.mark.parametrize("normalization", ["weighted_mean", "scaled_sum"])
def test_slot_updates_are_the_attention_weighted_mean_or_the_scaled_sum_of_the_values(normalization):
    from mogent_hf.modules import SlotAttention

    torch.manual_seed(0)
    module = SlotAttention(8, 8, 16, num_slots=3, num_iterations=1, bilevel_optimization=False, epsilon=0.0,
                           update_normalization=normalization)  # fmt: skip
    torch.nn.init.normal_(module.slot_queries)
    inputs = torch.randn(2, 10, 8)
    updates = []
    module.gru.register_forward_hook(lambda _, args, __: updates.append(args[0]))
    _, attention = module(inputs)
    values = module.project_v(module.norm_inputs(inputs))
    if normalization == "weighted_mean":
        expected = (attention / attention.sum(-1, keepdim=True)) @ values
    else:
        expected = attention @ values / 10
    torch.testing.assert_close(updates[0], expected.reshape(-1, 8))
    with pytest.raises(ValueError, match="`update_normalization` must be"):
        SlotAttention(8, 8, 16, 3, 1, update_normalization="sum")


def test_mask_only_loss_ignores_logits_at_unmasked_positions():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 16, 10, generator=generator)
    targets = torch.randint(0, 10, (3, 16), generator=generator)
    mask = torch.rand(3, 16, generator=generator) < 0.5
    changed = logits.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 10, generator=generator) * 5
    assert token_cross_entropy(changed, targets, mask) == token_cross_entropy(logits, targets, mask)
    assert token_cross_entropy(changed, targets, None) != token_cross_entropy(logits, targets, None)


@pytest.mark.parametrize("masked_only", [True, False])
def test_mogent_loss_depends_on_unmasked_logits_only_without_mask_loss(masked_only, images):
    model = tiny(MOGENTModel, MOGENTConfig, loss_on_masked_only=masked_only, dropout=0.0).eval()
    token_mask = torch.zeros(2, model.config.num_tokens, dtype=torch.bool)
    token_mask[:, ::3] = True
    base = model(images, token_mask=token_mask).cross_entropy

    def perturb_unmasked(module, args, output):
        return torch.where(token_mask[..., None], output, output + 3 * torch.randn_like(output))

    handle = model.head.register_forward_hook(perturb_unmasked)
    perturbed = model(images, token_mask=token_mask).cross_entropy
    handle.remove()
    assert torch.equal(base, perturbed) == masked_only


def test_mask_embedding_is_zero_at_init_and_a_trained_row_survives_reload(images, tmp_path):
    model = tiny(MOGENTModel, MOGENTConfig)
    mask_id = model.config.mask_token_id
    assert torch.count_nonzero(model.token_embedding.weight[mask_id]) == 0
    assert torch.count_nonzero(model.token_embedding.weight[:mask_id]) > 0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        model(images).loss.backward()
        optimizer.step()
    trained_row = model.token_embedding.weight[mask_id].detach().clone()
    assert torch.count_nonzero(trained_row) > 0
    model.save_pretrained(tmp_path)
    reloaded = MOGENTModel.from_pretrained(tmp_path)
    assert torch.equal(reloaded.token_embedding.weight[mask_id], trained_row)
    nonzero = tiny(MOGENTModel, MOGENTConfig, zero_mask_init=False).token_embedding.weight[mask_id]
    assert torch.count_nonzero(nonzero) > 0


def test_training_mask_rate_has_mean_064_and_ceil_cosine_counts():
    num_tokens = 256
    mask = random_token_mask(20000, num_tokens, generator=torch.Generator().manual_seed(0))
    rate = mask.float().mean(1)
    assert abs(rate.mean().item() - 2 / math.pi) < 0.02  # E[cos(πr/2)] = 2/π ≈ 0.64
    ratios = torch.tensor([0.0, 0.1, 0.5, 0.9, 0.999])
    expected = [max(1, math.ceil(math.cos(math.pi * r / 2) * num_tokens - 1e-9)) for r in ratios.tolist()]
    assert num_masked_tokens(ratios, num_tokens).tolist() == expected
    assert set(mask.sum(1).tolist()) <= set(range(1, num_tokens + 1))


def test_random_token_mask_counts_follow_the_drawn_ratio():
    generator = torch.Generator().manual_seed(5)
    mask = random_token_mask(64, 100, generator=generator)
    replay = torch.Generator().manual_seed(5)
    ratio = torch.rand(64, generator=replay)
    assert torch.equal(mask.sum(1), num_masked_tokens(ratio, 100))


def test_learned_query_slots_are_deterministic_at_sigma_zero_and_noisy_above(images):
    model = tiny(MOGENTModel, MOGENTConfig).eval()
    assert torch.equal(model.encode(images).slots, model.encode(images).slots)
    assert not torch.equal(model.encode(images, sigma=0.5).slots, model.encode(images, sigma=0.5).slots)
    relative = tiny(MOGENTModel, MOGENTConfig, query_noise="relative").eval()
    assert not torch.equal(relative.encode(images, sigma=0.5).slots, relative.encode(images, sigma=0.5).slots)


def test_gaussian_slot_init_differs_per_call_in_training_is_fixed_in_eval_and_repeats_with_a_seed(images):
    model = tiny(SLATEModel, SLATEConfig)
    assert not torch.equal(model.encode(images).slots, model.encode(images).slots)
    model.eval()
    assert torch.equal(model.encode(images).slots, model.encode(images).slots)
    seeded = [model.encode(images, generator=torch.Generator().manual_seed(7)).slots for _ in range(2)]
    assert torch.equal(*seeded)


def test_bilevel_optimization_sends_gradient_to_queries_only_through_the_last_iteration(images):
    model = tiny(MOGENTModel, MOGENTConfig).eval()
    slot_attention = model.slot_encoder.slot_attention
    tokens = model.image_tokens(images)
    slots, _ = model.slots_from_tokens(tokens)
    slots.sum().backward()
    with_trick = slot_attention.slot_queries.grad.clone()
    model.zero_grad()
    slot_attention.bilevel_optimization = False
    model.slots_from_tokens(tokens)[0].sum().backward()
    assert with_trick.abs().sum() > 0 and not torch.allclose(with_trick, slot_attention.slot_queries.grad)


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_loss_falls_by_half_when_overfitting_one_tiny_batch(config_cls, model_cls, images):
    model = tiny(model_cls, config_cls, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = model(images, tau=0.5, generator=generator).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_seeded_forward_repeats(config_cls, model_cls, images):
    model = tiny(model_cls, config_cls).eval()
    first = model(images, sigma=0.3, generator=torch.Generator().manual_seed(2))
    second = model(images, sigma=0.3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first.logits, second.logits)


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_dvae_only_pass_trains_the_tokenizer_alone(config_cls, model_cls, images):
    model = tiny(model_cls, config_cls)
    torch.manual_seed(1)
    full = model(images, tau=0.5)
    torch.manual_seed(1)
    output = model(images, tau=0.5, dvae_only=True)
    assert torch.equal(output.loss, full.dvae_mse) and output.cross_entropy.item() == 0.0 and output.slots is None
    output.loss.backward()
    with_grad = {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {"dvae"}


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.rand(2, 3, 28, 28), ValueError, "pixel_values.*shape"),
        (torch.rand(2, 1, 32, 32), ValueError, "pixel_values.*shape"),
        (torch.rand(3, 32, 32), ValueError, "pixel_values.*shape"),
        (torch.rand(2, 3, 32, 32) * 255, ValueError, r"pixel_values.*\[0, 1\]"),
        (torch.randint(0, 255, (2, 3, 32, 32)), TypeError, "pixel_values.*floating"),
        ("image.png", TypeError, "pixel_values.*Tensor"),
    ],
)
@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_bad_pixel_values_raise_clear_errors(config_cls, model_cls, bad, error, match):
    model = tiny(model_cls, config_cls)
    with pytest.raises(error, match=match):
        model(bad)
    with pytest.raises(error, match=match):
        model.encode(bad)


def test_bad_slots_tokens_and_arguments_raise_clear_errors(images):
    mogent = tiny(MOGENTModel, MOGENTConfig)
    slate = tiny(SLATEModel, SLATEConfig)
    with pytest.raises(ValueError, match="slots.*32"):
        slate.generate_tokens(torch.rand(1, 3, 16))
    with pytest.raises(ValueError, match="tokens.*64"):
        mogent.decode_tokens(torch.zeros(1, 10, dtype=torch.long))
    with pytest.raises(ValueError, match=r"tokens.*\[0, 32\)"):
        mogent.decode_tokens(torch.full((1, 64), 40))
    with pytest.raises(ValueError, match="tokens"):
        mogent.token_logits(torch.zeros(1, 10, dtype=torch.long), torch.rand(1, 3, 32))
    with pytest.raises(ValueError, match="tau"):
        mogent(images, tau=0.0)
    with pytest.raises(ValueError, match="token_mask"):
        mogent(images, token_mask=torch.zeros(2, 5, dtype=torch.bool))


def test_codebook_entropy_term_is_subtracted_from_the_dvae_objective(images):
    model = tiny(MOGENTModel, MOGENTConfig, codebook_entropy_weight=0.5)
    torch.manual_seed(3)
    objective, mse, _, _ = model.dvae_loss(images, tau=1.0)
    mean_probs = model.dvae.code_log_probs(images).exp().mean(dim=(0, 2, 3))
    entropy = -(mean_probs * mean_probs.log()).sum()
    torch.testing.assert_close(objective, mse - 0.5 * entropy)
    torch.manual_seed(3)
    objective_off, mse_off, _, _ = model.dvae_loss(images, tau=1.0, codebook_entropy_weight=0.0)
    assert torch.equal(objective_off, mse_off) and torch.equal(mse_off, mse)
    with pytest.raises(ValueError, match="codebook_entropy_weight"):
        MOGENTConfig.from_preset("tiny", codebook_entropy_weight=-1.0)


def test_small_preset_is_a_64px_cpu_recipe_shared_by_both_models():
    mogent, slate = MOGENTConfig.from_preset("small"), SLATEConfig.from_preset("small")
    assert (mogent.image_size, mogent.num_tokens, mogent.dropout) == (64, 256, 0.0)
    assert (slate.mlp_hidden_size, slate.num_heads) == (mogent.mlp_hidden_size, mogent.num_heads)
    assert slate.slot_init == "gaussian" and mogent.slot_init == "learned_queries"


@pytest.mark.parametrize("positions", ["every slot", "none", "slot 1 (background)"])
def test_mixture_loss_is_the_attention_weighted_likelihood_of_each_slots_own_token_prediction(positions):
    torch.manual_seed(0)
    decoder = SlotMixtureTokenDecoder(slot_size=6, hidden_size=8, num_tokens=5, vocab_size=4,
                                      use_positions=positions == "every slot",
                                      background_slot=1 if positions.startswith("slot 1") else None)  # fmt: skip
    if positions != "none":
        torch.nn.init.normal_(decoder.position_embedding)  # the model's _init_weights does this
    slots = torch.randn(2, 3, 6)
    attention = torch.randn(2, 3, 5).softmax(dim=1)
    tokens = torch.randint(0, 4, (2, 5))
    probs = decoder.slot_log_probs(slots).exp().detach()  # (B,K,L,V)
    assert probs.shape == (2, 3, 5, 4)
    by_position = [not torch.equal(probs[:, k], probs[:, k, :1].expand_as(probs[:, k])) for k in range(3)]
    assert by_position == {"every slot": [True] * 3, "none": [False] * 3,
                           "slot 1 (background)": [False, True, False]}[positions]  # fmt: skip
    if positions.startswith("slot 1"):  # the shared MLP on slot 1's projection plus each position
        hidden = decoder.slot_projection(slots[:, 1:2])[:, :, None] + decoder.position_embedding
        torch.testing.assert_close(probs[:, 1:2], decoder.mlp(hidden).softmax(dim=-1).detach())
    expected = 0.0
    for b in range(2):
        for n in range(5):
            likelihood = sum(attention[b, k, n] * probs[b, k, n, tokens[b, n]] for k in range(3))
            expected -= math.log(likelihood) / 10
    torch.testing.assert_close(decoder(slots, attention, tokens).detach(), torch.tensor(expected))
    posterior = decoder.posterior(slots, attention, tokens).detach()  # Bayes: attention × likelihood, normalised
    joint = attention * probs.gather(-1, tokens[:, None, :, None].expand(-1, 3, -1, 1))[..., 0]
    torch.testing.assert_close(posterior, joint / joint.sum(dim=1, keepdim=True))


def test_spatial_likelihood_is_a_normalised_gaussian_with_the_slots_attention_weighted_mean_and_variance():
    decoder = SlotMixtureTokenDecoder(6, 8, num_tokens=6, vocab_size=4, use_positions=False, spatial=True, grid_width=3)
    attention = torch.rand(1, 2, 6).softmax(dim=1)
    log_probs = decoder.position_log_probs(attention)  # (1,2,6)
    positions = [(2 * (n // 3) - 1.0, n % 3 - 1.0) for n in range(6)]  # 2 rows × 3 columns in [-1, 1]
    for k in range(2):
        weights = attention[0, k] / attention[0, k].sum()
        mean = [sum(weights[n] * positions[n][axis] for n in range(6)) for axis in (0, 1)]
        variance = [
            sum(weights[n] * (positions[n][axis] - mean[axis]) ** 2 for n in range(6)) + 1 / 9 for axis in (0, 1)
        ]
        density = torch.stack([torch.exp(-sum((positions[n][a] - mean[a]) ** 2 / (2 * variance[a]) for a in (0, 1)))
                               for n in range(6)])  # fmt: skip
        torch.testing.assert_close(log_probs[0, k], (density / density.sum()).log())
    with_background = SlotMixtureTokenDecoder(6, 8, 6, 4, use_positions=False, background_slot=1, spatial=True,
                                              grid_width=3)  # fmt: skip
    background = with_background.position_log_probs(attention)
    torch.testing.assert_close(background[:, 0], log_probs[:, 0])
    torch.testing.assert_close(background[:, 1], torch.full((1, 6), -math.log(6)))  # anywhere on the grid


def test_spatial_likelihood_makes_two_distant_objects_of_one_colour_cheaper_in_two_slots_than_in_one():
    torch.manual_seed(0)
    slots = torch.randn(1, 3, 6)
    slots[:, 2] = slots[:, 1]  # slots 1 and 2 predict the same codes: only the assignment differs
    tokens = torch.zeros(1, 16, dtype=torch.long)

    def attention(owner_of_last_corner: int) -> torch.Tensor:
        owners = torch.zeros(16, dtype=torch.long)  # slot 0 takes everything but the two corners
        owners[0], owners[15] = 1, owner_of_last_corner
        return torch.full((1, 3, 16), 0.01).scatter(1, owners[None, None], 0.98)

    for spatial in (False, True):
        decoder = SlotMixtureTokenDecoder(6, 8, 16, 4, use_positions=False, spatial=spatial)
        merged, split = decoder(slots, attention(1), tokens), decoder(slots, attention(2), tokens)
        if spatial:
            assert split < merged - 0.1
        else:
            torch.testing.assert_close(split, merged)


def test_mixture_loss_moves_each_token_to_the_slot_that_predicts_it_best():
    torch.manual_seed(0)
    decoder = SlotMixtureTokenDecoder(slot_size=6, hidden_size=8, num_tokens=5, vocab_size=4)
    slots, tokens = torch.randn(1, 2, 6), torch.randint(0, 4, (1, 5))
    attention_logits = torch.zeros(1, 2, 5, requires_grad=True)
    decoder(slots, attention_logits.softmax(dim=1), tokens).backward()
    token_log_probs = decoder.slot_log_probs(slots).gather(-1, tokens[:, None, :, None].expand(-1, 2, -1, 1))[..., 0]
    better = token_log_probs.argmax(dim=1)  # (1,L): the slot whose prediction gives the token more probability
    gradient = attention_logits.grad  # a descent step raises the logits of the better slot
    assert torch.all(gradient.gather(1, better[:, None]) < 0)


@pytest.mark.parametrize("config_cls, model_cls", MODELS)
def test_mixture_loss_weight_adds_the_mixture_decoder_to_the_loss_and_the_weights(
    config_cls, model_cls, images, tmp_path
):
    plain = tiny(model_cls, config_cls)
    assert plain.mixture_decoder is None
    generator = torch.Generator().manual_seed(0)
    assert plain(images, generator=generator).mixture_cross_entropy == 0
    model = tiny(model_cls, config_cls, mixture_loss_weight=0.5)
    output = model(images, generator=torch.Generator().manual_seed(0))
    mixture = model.mixture_decoder(output.slots, output.attention, output.tokens)
    torch.testing.assert_close(output.mixture_cross_entropy, mixture)
    torch.testing.assert_close(output.loss, output.dvae_mse + output.cross_entropy + 0.5 * mixture)
    output.loss.backward()
    assert model.slot_encoder.slot_attention.project_k.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path)
    reloaded = model_cls.from_pretrained(tmp_path)
    for name, parameter in model.mixture_decoder.state_dict().items():
        assert torch.equal(reloaded.mixture_decoder.state_dict()[name], parameter), name
    # Loading without the mixture loss drops the training-only head silently and keeps everything else.
    dropped, info = model_cls.from_pretrained(tmp_path, mixture_loss_weight=0.0, output_loading_info=True)
    assert dropped.mixture_decoder is None and not info["unexpected_keys"] and not info["missing_keys"]
    kept = {name: value for name, value in model.state_dict().items() if not name.startswith("mixture_decoder.")}
    torch.testing.assert_close(dropped.state_dict(), kept)
    # A model that has a mixture decoder still reports a checkpoint's mixture weights that do not fit it.
    _, info = model_cls.from_pretrained(tmp_path, mixture_decoder_positions=False, output_loading_info=True)
    assert info["unexpected_keys"] == {"mixture_decoder.position_embedding"}, info
    with pytest.raises(ValueError, match="mixture_loss_weight"):
        config_cls.from_preset("tiny", mixture_loss_weight=-0.1)
    for bad, message in (({"mixture_decoder_positions": True}, "needs"), ({"slot_init": "gaussian"}, "needs"),
                         ({"mixture_background_slot": 3}, "must be a slot index in \\[0, 3\\), got 3")):  # fmt: skip
        settings = {"mixture_decoder_positions": False, "slot_init": "learned_queries", "mixture_background_slot": 0}
        with pytest.raises(ValueError, match=f"`mixture_background_slot` {message}"):
            config_cls.from_preset("tiny", num_slots=3, mixture_loss_weight=1.0, **{**settings, **bad})
    spatial = config_cls.from_preset("tiny", mixture_loss_weight=1.0, mixture_spatial_likelihood=True)
    assert model_cls(spatial).mixture_decoder.spatial
    with pytest.raises(ValueError, match="needs `use_positions=False`"):
        SlotMixtureTokenDecoder(6, 8, 5, 4, use_positions=True, background_slot=0)
