"""What MOGENT and SLATE share: DVAE tokenizer → token dictionary + positions → slot encoder → slot-conditioned
transformer decoder → head over the V codes. The two models differ only in how the decoder reads tokens
(bidirectional with [MASK] vs causal with [BOS]) and in their training objective.

Initialisation follows the official SLATE code: xavier-uniform linears, kaiming convs, N(0,1) token and
position embeddings, GRU weights xavier/orthogonal.

Randomness: every draw of `forward` (the DVAE's Gumbel noise, MOGENT's token mask, the slot noise) comes from the
caller's `generator` when one is given, in training and in eval mode alike, so that one generator gives one result
(dropout, active in training mode only, draws from torch's global RNG as everywhere in torch). `encode` in eval mode
is deterministic unless asked for noise (`sigma` > 0): learned queries start as they are, and SLATE's Gaussian start
is drawn from `generator` when one is given, and is one fixed draw (seed 0, the same for every image) when none is
(not the mean μ: the K slots share it, and Slot Attention keeps identical starting slots identical).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.output_capturing import capture_outputs

from .configuration_mogent import SlotTransformerConfig
from .modules import (
    DVAE,
    ConvFeatureEncoder,
    FoldedSlotAttention,
    SlotAttention,
    SlotEncoder,
    SlotMixtureTokenDecoder,
    SoftPositionEmbedding,
    TransformerDecoder,
)
from .modules.grids import resize_grid
from .modules.transformer import DecoderBlock

# The hidden states `forward(output_hidden_states=True)` returns: the decoder's input embeddings and the output of
# each decoder block, before the final LayerNorm (num_decoder_layers + 1 tensors (B,L,d), as ViT's).
capture_hidden_states = capture_outputs(tie_last_hidden_states=False)


@dataclass
class SlotEncoderOutput(ModelOutput):
    """Result of `encode`.

    Args:
        tokens (`torch.LongTensor` (B,L)): DVAE codes (argmax), row-major over the (H/4)×(W/4) grid.
        slots (`torch.FloatTensor` (B,K,slot_size)).
        attention (`torch.FloatTensor` (B,K,L)): Slot Attention weights of the last iteration (sum to 1 over K).
        slot_masks (`torch.FloatTensor` (B,K,H,W)): `attention` upsampled bilinearly to the image size.
    """

    tokens: torch.LongTensor | None = None
    slots: torch.FloatTensor | None = None
    attention: torch.FloatTensor | None = None
    slot_masks: torch.FloatTensor | None = None


@dataclass
class SlotTransformerOutput(ModelOutput):
    """Result of a training forward pass.

    Args:
        loss (`torch.FloatTensor` ()): `dvae_mse + cross_entropy` (+ `mixture_loss_weight · mixture_cross_entropy`)
            (+ `slot_distillation_weight · slot_distillation_cross_entropy`).
        dvae_mse (`torch.FloatTensor` ()): mean squared error of the DVAE's relaxed reconstruction, per pixel.
        cross_entropy (`torch.FloatTensor` ()): decoder cross-entropy, mean over the tokens it is taken on.
        mixture_cross_entropy (`torch.FloatTensor` ()): with `config.mixture_loss_weight` > 0: −mean log-likelihood
            of all tokens under the slot-mask mixture of `SlotMixtureTokenDecoder`; else 0.
        slot_distillation_cross_entropy (`torch.FloatTensor` (), optional): MOGENT with `slot_distillation_weight`
            > 0 only: Slot Attention's cross-entropy against the decoder's matched argmax (`slot_distillation_loss`).
        reconstruction (`torch.FloatTensor` (B,C,H,W)): DVAE reconstruction from the relaxed codes.
        logits (`torch.FloatTensor` (B,L,V)): decoder logits.
        token_mask (`torch.BoolTensor` (B,L)): MOGENT only: which tokens were masked.
        tokens, slots, attention, slot_masks: as in [`SlotEncoderOutput`].
        hidden_states (`tuple(torch.FloatTensor)`, with `output_hidden_states`): the decoder's input embeddings and
            the output of each of its blocks (before the final LayerNorm), num_decoder_layers + 1 tensors (B,L,d).
    """

    loss: torch.FloatTensor | None = None
    dvae_mse: torch.FloatTensor | None = None
    cross_entropy: torch.FloatTensor | None = None
    mixture_cross_entropy: torch.FloatTensor | None = None
    slot_distillation_cross_entropy: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    token_mask: torch.BoolTensor | None = None
    tokens: torch.LongTensor | None = None
    slots: torch.FloatTensor | None = None
    attention: torch.FloatTensor | None = None
    slot_masks: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy of logits (B,L,V) against targets (B,L), over the positions where `token_mask` (B,L) is
    True, or over all positions when it is None."""
    losses = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")
    if token_mask is None:
        return losses.mean()
    weights = token_mask.flatten().float()
    return (losses * weights).sum() / weights.sum().clamp_min(1.0)


def check_pixel_values(pixel_values, config: SlotTransformerConfig, name: str = "pixel_values") -> None:
    """Raises a clear error unless `pixel_values` is a float tensor (B,C,H,W), B ≥ 1, in [0,1] of the config's size.
    The value range, a data-dependent check, is left out under tracing (`torch.compile`, `torch.export`)."""
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor (B,C,H,W), got {type(pixel_values).__name__}")
    if not pixel_values.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor with values in [0, 1], got {pixel_values.dtype}")
    expected = (config.num_channels, config.image_size, config.image_size)
    if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
        raise ValueError(
            f"`{name}` must have shape (B, {', '.join(map(str, expected))}), got {tuple(pixel_values.shape)}"
        )
    if pixel_values.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch: give at least one image")
    if torch.compiler.is_compiling():
        return
    if pixel_values.min() < -1e-3 or pixel_values.max() > 1 + 1e-3:
        low, high = pixel_values.min().item(), pixel_values.max().item()
        raise ValueError(f"`{name}` must lie in [0, 1], got values in [{low:.3f}, {high:.3f}]")


class SlotTransformerPreTrainedModel(PreTrainedModel):
    """DVAE + slot encoder + decoder; subclasses set `causal_decoder` and implement `forward`."""

    config_class = SlotTransformerConfig
    base_model_prefix = "slot_transformer"
    main_input_name = "pixel_values"
    input_modalities = "image"
    _supports_sdpa = True
    _no_split_modules = ["DecoderBlock"]
    supports_gradient_checkpointing = True  # per decoder block (`DecoderBlock` is a GradientCheckpointingLayer)
    _can_record_outputs = {"hidden_states": DecoderBlock}
    _input_embed_layer = "token_embedding"  # the token dictionary; the default name collides with `embed_tokens`
    causal_decoder: bool = False
    # Positions of the slot encoder's tokens within `position_embedding` (SLATE keeps index 0 for [BOS]).
    encoder_position_offset: int = 0
    _push_remote_code = False  # push_to_hub sets it while transformers' push_to_hub calls save_pretrained

    def save_pretrained(self, save_directory, *args, push_remote_code: bool = False, **kwargs):
        """transformers' `save_pretrained`; with `push_remote_code=True` the model's code is written too, with
        `auto_map`, so that `AutoModel.from_pretrained(dir_or_id, trust_remote_code=True)` needs no mogent_hf."""
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        if push_remote_code or self._push_remote_code:
            from mogent_hf.remote_code import write_model_code

            write_model_code(self, save_directory)
        return saved

    def push_to_hub(self, repo_id: str, *args, push_remote_code: bool = True, **kwargs):
        """transformers' `push_to_hub`, with the model's code in the repo unless `push_remote_code=False`."""
        self._push_remote_code = push_remote_code
        try:
            return super().push_to_hub(repo_id, *args, **kwargs)
        finally:
            self._push_remote_code = False

    def __init__(self, config: SlotTransformerConfig):
        super().__init__(config)
        d_model, num_tokens = config.d_model, config.num_tokens
        self.dvae = DVAE(config.vocab_size, config.num_channels, config.dvae_hidden_size, config.dvae_patch_size)
        # V codes + one special token ([MASK] for MOGENT, [BOS] for SLATE).
        self.token_embedding = nn.Embedding(config.vocab_size + 1, d_model)
        self.position_embedding = nn.Parameter(torch.zeros(1, num_tokens + self.encoder_position_offset, d_model))
        self.embedding_dropout = nn.Dropout(config.dropout)
        slot_attention = SlotAttention(
            input_size=d_model,
            slot_size=config.slot_size,
            mlp_size=config.slot_mlp_size,
            num_slots=config.num_slots,
            num_iterations=config.num_slot_iterations,
            slot_init=config.slot_init,
            bilevel_optimization=config.bilevel_optimization,
            query_noise=config.query_noise,
            epsilon=config.slot_attention_epsilon,
            update_normalization=config.slot_update_normalization,
        )
        self.slot_encoder = SlotEncoder(d_model, slot_attention)
        self.feature_encoder = self.feature_positions = None
        if config.slot_input != "tokens":
            residual = config.slot_input == "tokens_and_cnn"
            self.feature_encoder = ConvFeatureEncoder(config.num_channels, config.dvae_hidden_size, d_model,
                                                      config.slot_input_stride, zero_output=residual)  # fmt: skip
            if not residual and config.slot_grid_side != config.tokens_per_side:  # finer grid: positions of its own
                self.feature_positions = SoftPositionEmbedding(d_model, config.slot_grid_side)
        self.slot_projection = nn.Linear(config.slot_size, d_model, bias=False)
        # `_attn_implementation` "sdpa" (default) or "eager": transformers refuses the ones this class does not
        # declare (flash attention), the decoder any other.
        self.decoder = TransformerDecoder(
            d_model=d_model,
            num_layers=config.num_decoder_layers,
            num_heads=config.num_heads,
            mlp_hidden_size=config.mlp_hidden_size,
            dropout=config.dropout,
            causal=self.causal_decoder,
            rope_grid_width=config.tokens_per_side if config.position_encoding == "rope" else None,
            normalize_input=config.normalize_decoder_input,
            attn_implementation=config._attn_implementation,
        )
        self.head = self.build_head(config)
        self.mixture_decoder = None
        if config.mixture_loss_weight > 0:
            self.mixture_decoder = SlotMixtureTokenDecoder(
                config.slot_size,
                config.slot_mlp_size,
                num_tokens,
                config.vocab_size,
                use_positions=config.mixture_decoder_positions,
                background_slot=config.mixture_background_slot,
                spatial=config.mixture_spatial_likelihood,
                grid_width=config.tokens_per_side,
            )
        else:
            # The mixture decoder is a training-only head: a model built without one (e.g. a stage 2 without the
            # mixture loss) drops a checkpoint's on purpose, not a mismatch to report. (A model with one still
            # reports mixture keys that do not fit it.) `post_init` reads this instance attribute.
            self._keys_to_ignore_on_load_unexpected = [r"^mixture_decoder\."]

    def build_head(self, config: SlotTransformerConfig) -> nn.Module:
        return nn.Linear(config.d_model, config.vocab_size, bias=False)

    def set_attn_implementation(self, attn_implementation: str | dict, **kwargs) -> None:
        super().set_attn_implementation(attn_implementation, **kwargs)
        self.decoder.set_attn_implementation(self.config._attn_implementation)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d) and getattr(module, "zero_init", False):
            init.zeros_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.GRUCell):
            init.xavier_uniform_(module.weight_ih)
            init.orthogonal_(module.weight_hh)
            init.zeros_(module.bias_ih)
            init.zeros_(module.bias_hh)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, SlotAttention):
            for name in ("slot_queries", "slot_mu", "slot_log_sigma"):
                if hasattr(module, name):
                    init.xavier_uniform_(getattr(module, name))
        elif isinstance(module, (SlotTransformerPreTrainedModel, SlotMixtureTokenDecoder)):
            if module.position_embedding is not None:  # the position-free mixture decoder has none
                init.trunc_normal_(module.position_embedding, std=1.0)

    # ---- encoding -------------------------------------------------------------------------------------------
    def embed_tokens(self, tokens: torch.Tensor, positions: slice) -> torch.Tensor:
        """tokens (B,T) → dictionary embeddings + the learned positions `positions` (B,T,d), with dropout."""
        return self.embedding_dropout(self.token_embedding(tokens) + self.position_embedding[:, positions])

    def slots_from_tokens(
        self,
        tokens: torch.Tensor,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """tokens (B,L) → slots (B,K,slot_size), attention (B,K,L) (and its logits with `return_logits`)."""
        offset = self.encoder_position_offset
        embeddings = self.embed_tokens(tokens, slice(offset, offset + tokens.shape[1]))
        return self.slot_encoder(embeddings, sigma=sigma, generator=generator, return_logits=return_logits)

    def encode_slots(
        self,
        pixel_values: torch.Tensor,
        tokens: torch.Tensor,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """Slot Attention over what `config.slot_input` names: the embeddings of `tokens` (B,L) (the paper), CNN
        features of `pixel_values` (B,C,H,W), or both added → slots, attention (B,K,N) (and the attention's logits
        (B,K,N), before the softmax over slots, with `return_logits`). N = L, or the CNN grid's cells
        (`config.slot_grid_side`²). CNN features take the token positions at the token grid and soft position
        embeddings on a finer one; with "tokens_and_cnn" each token's embedding (with its position) is repeated
        over the grid cells of its patch."""
        if self.feature_encoder is None:
            return self.slots_from_tokens(tokens, sigma=sigma, generator=generator, return_logits=return_logits)
        offset = self.encoder_position_offset
        features = self.feature_encoder(pixel_values.to(self.dtype))
        if self.config.slot_input == "tokens_and_cnn":
            embeddings = self.embed_tokens(tokens, slice(offset, offset + tokens.shape[1]))  # (B,L,d)
            factor = self.config.slot_grid_side // self.config.tokens_per_side
            grid = embeddings.transpose(1, 2).unflatten(-1, (self.config.tokens_per_side,) * 2)
            grid = grid.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
            return self.slot_encoder(features + grid.flatten(2).transpose(1, 2), sigma=sigma, generator=generator,
                                     return_logits=return_logits)  # fmt: skip
        if self.feature_positions is None:
            features = features + self.position_embedding[:, offset : offset + tokens.shape[1]]
        else:
            features = self.feature_positions(features)
        features = self.embedding_dropout(features)
        return self.slot_encoder(features, sigma=sigma, generator=generator, return_logits=return_logits)

    def attention_to_masks(self, attention: torch.Tensor) -> torch.Tensor:
        """attention (B,K,N) over a square grid (the tokens', or Slot Attention's finer one) → slot masks (B,K,H,W),
        bilinear upsampling (as SlotDiffusion)."""
        size = self.config.image_size
        return resize_grid(attention, size * size).unflatten(-1, (size, size))

    def checked_pixel_values(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`check_pixel_values`, then cast to the weights' dtype (as ViT does: a bf16 model takes fp32 images)."""
        check_pixel_values(pixel_values, self.config)
        return pixel_values.to(self.dtype)

    def image_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Images (B,C,H,W) in [0,1] → DVAE tokens (B,L), argmax codes."""
        return self.dvae.code_log_probs(self.checked_pixel_values(pixel_values)).argmax(dim=1).flatten(1)

    def encode(
        self,
        pixel_values: torch.Tensor,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> SlotEncoderOutput:
        """Images (B,C,H,W) in [0,1] → tokens (B,L), slots (B,K,D), attention (B,K,L), slot masks (B,K,H,W).

        In eval mode without a generator the result is deterministic and each image's does not depend on the rest of
        the batch (at `sigma` 0; SLATE starts from a fixed draw). A generator draws SLATE's Gaussian start and the
        `sigma` noise; a list of them, one per image, draws each image's from its own, independently of the batch."""
        tokens = self.image_tokens(pixel_values)
        slots, attention = self.encode_slots(pixel_values, tokens, sigma=sigma, generator=generator)
        return SlotEncoderOutput(tokens, slots, attention, self.attention_to_masks(attention))

    def check_slots(self, slots: torch.Tensor, name: str = "slots") -> None:
        if not isinstance(slots, torch.Tensor) or slots.ndim != 3 or slots.shape[-1] != self.config.slot_size:
            shape = tuple(slots.shape) if isinstance(slots, torch.Tensor) else type(slots).__name__
            raise ValueError(f"`{name}` must be a tensor (B, K, {self.config.slot_size}), got {shape}")
        if slots.shape[0] == 0:
            raise ValueError(f"`{name}` is an empty batch: give at least one slot set")

    def slot_kv(self, slots: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Slots (B,K,slot_size) → cross-attention keys/values of every decoder block; reuse across decoding steps."""
        self.check_slots(slots)
        return self.decoder.slot_kv(self.slot_projection(slots))

    def fold_slot_attention(self, slots: torch.Tensor) -> list[FoldedSlotAttention]:
        """Slots (B,K,slot_size) → every decoder block's cross-attention with its query/output projections folded
        into the slots (`FoldedSlotAttention`): takes the place of `slot_kv` at fewer FLOPs per decoding step."""
        self.check_slots(slots)
        return self.decoder.fold_slot_attention(self.slot_projection(slots))

    def cross_attention_maps(self, decoder_inputs: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Embedded decoder inputs (B,L,d) and slots (B,K,slot_size) → each decoder block's cross-attention over the
        slots (num_blocks,B,K,L): summed over heads and normalised over the slots (as SPOT reads its decoder), i.e.
        the heads' mean; sums to 1 over K at every token."""
        weights: list[torch.Tensor] = []
        self.decoder(decoder_inputs, self.slot_kv(slots), cross_attention_weights=weights)
        maps = torch.stack(weights).sum(dim=2)  # (blocks,B,L,K)
        return (maps / maps.sum(dim=-1, keepdim=True)).transpose(-1, -2)

    # ---- decoding -------------------------------------------------------------------------------------------
    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """DVAE tokens (B,L) long in [0,V) → images (B,C,H,W) (not clamped)."""
        if tokens.ndim != 2 or tokens.shape[1] != self.config.num_tokens:
            raise ValueError(f"`tokens` must have shape (B, {self.config.num_tokens}), got {tuple(tokens.shape)}")
        if tokens.min() < 0 or tokens.max() >= self.config.vocab_size:
            raise ValueError(
                f"`tokens` must lie in [0, {self.config.vocab_size}), got [{tokens.min()}, {tokens.max()}]"
            )
        side = self.config.tokens_per_side
        return self.dvae.decode_tokens(tokens.view(-1, side, side))

    def dvae_loss(
        self,
        pixel_values: torch.Tensor,
        tau: float,
        codebook_entropy_weight: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Relaxed DVAE pass → (objective (), per-pixel MSE (), reconstruction (B,C,H,W), argmax tokens (B,L)).

        The objective is the MSE minus w·H(batch-mean code distribution), w = `codebook_entropy_weight` (by default
        the config's; the training script may anneal it). The Gumbel noise comes from `generator` when given."""
        if not tau > 0:
            raise ValueError(f"`tau` must be > 0, got {tau}")
        log_probs = self.dvae.code_log_probs(self.checked_pixel_values(pixel_values))  # (B,V,h,w)
        reconstruction = self.dvae.decode_codes(self.dvae.relaxed_codes(log_probs, tau, generator))
        mse = F.mse_loss(reconstruction.float(), pixel_values.float())
        objective = mse
        weight = self.config.codebook_entropy_weight if codebook_entropy_weight is None else codebook_entropy_weight
        if weight > 0:
            mean_probs = log_probs.float().exp().mean(dim=(0, 2, 3))  # (V,)
            entropy = -(mean_probs * mean_probs.clamp_min(1e-12).log()).sum()
            objective = mse - weight * entropy
        return objective, mse, reconstruction, log_probs.argmax(dim=1).flatten(1).detach()

    def training_output(
        self,
        dvae_objective: torch.Tensor,
        dvae_mse: torch.Tensor,
        reconstruction: torch.Tensor,
        tokens: torch.Tensor,
        slots: torch.Tensor,
        attention: torch.Tensor,
        logits: torch.Tensor,
        cross_entropy: torch.Tensor,
        mixture_loss_weight: float | None,
        token_mask: torch.Tensor | None = None,
    ) -> SlotTransformerOutput:
        """Output of a full training pass. loss = the DVAE objective + the decoder's cross-entropy + the weighted
        slot-mask mixture loss of `SlotMixtureTokenDecoder` (0 without `config.mixture_loss_weight`);
        `mixture_loss_weight` overrides the config's weight (an annealed one); the mixture is still measured at 0."""
        if self.mixture_decoder is None:
            loss, mixture = dvae_objective + cross_entropy, torch.zeros_like(cross_entropy)
        else:
            weight = self.config.mixture_loss_weight if mixture_loss_weight is None else mixture_loss_weight
            if weight < 0:
                raise ValueError(f"`mixture_loss_weight` must be >= 0, got {weight}")
            mixture = self.mixture_decoder(slots, attention, tokens)
            loss = dvae_objective + cross_entropy + weight * mixture
        return SlotTransformerOutput(
            loss=loss,
            dvae_mse=dvae_mse,
            cross_entropy=cross_entropy,
            mixture_cross_entropy=mixture,
            reconstruction=reconstruction,
            logits=logits,
            token_mask=token_mask,
            tokens=tokens,
            slots=slots,
            attention=attention,
            slot_masks=self.attention_to_masks(attention),
        )

    def dvae_only_output(self, dvae_objective, dvae_mse, reconstruction, tokens) -> SlotTransformerOutput:
        """Output of a DVAE-only training pass (`forward(..., dvae_only=True)`): loss = the DVAE's objective."""
        return SlotTransformerOutput(
            loss=dvae_objective,
            dvae_mse=dvae_mse,
            cross_entropy=torch.zeros_like(dvae_mse),
            mixture_cross_entropy=torch.zeros_like(dvae_mse),
            reconstruction=reconstruction,
            tokens=tokens,
        )
