"""MOGENT (paper §3.2): SLATE's tokenizer and slot encoder with a masked bidirectional transformer decoder,
trained MaskGIT-style (r ~ U(0,1), ⌈γ(r)·L⌉ tokens masked, cross-entropy on the masked tokens) and decoded by
iterative parallel decoding (see `MaskGITScheduler` and `MOGENTPipeline`)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    AutoModel,
    PreTrainedModel,  # noqa: F401  (diffusers' loader looks the base class up by name here)
)
from transformers import initialization as init

from .configuration_mogent import MOGENTConfig
from .modeling_base import (
    SlotTransformerOutput,
    SlotTransformerPreTrainedModel,
    capture_hidden_states,
    token_cross_entropy,
)
from .modules import random_token_mask
from .modules.slot_distillation import select_decoder_attention, slot_distillation_loss
from .modules.transformer import PositionKVCache, SlotConditioning, gather_rows


class MOGENTModel(SlotTransformerPreTrainedModel):
    """MOGENT. `forward` computes the training losses; `encode`, `token_logits` and `decode_tokens` are what the
    pipeline's decoding loop uses.

    Example:
    ```python
    >>> import torch
    >>> from mogent_hf import MOGENTConfig, MOGENTModel
    >>> model = MOGENTModel(MOGENTConfig.from_preset("tiny"))
    >>> out = model(torch.rand(2, 3, 32, 32), tau=1.0, sigma=1.0)
    >>> out.loss.backward()
    ```
    """

    config_class = MOGENTConfig
    config: MOGENTConfig
    causal_decoder = False

    def __init__(self, config: MOGENTConfig):
        super().__init__(config)
        self.post_init()

    def build_head(self, config: MOGENTConfig) -> nn.Module:
        projection = nn.Linear(config.d_model, config.vocab_size)
        if not config.head_transform:
            return projection
        return nn.Sequential(
            nn.Linear(config.d_model, config.d_model), nn.GELU(), nn.LayerNorm(config.d_model), projection
        )

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is self.token_embedding and self.config.zero_mask_init:
            # A slice loses the "already loaded" flag: check it on the whole weight, so a trained row survives reload.
            if not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[self.config.mask_token_id])

    def token_logits(
        self,
        tokens: torch.Tensor,
        slots: torch.Tensor | None = None,
        slot_kv: SlotConditioning | None = None,
        query_positions: torch.Tensor | None = None,
        kv_cache: PositionKVCache | None = None,
    ) -> torch.Tensor:
        """Predicts every token from the partly masked `tokens` (B,L) ([MASK] = `config.mask_token_id`).

        Give `slots` (B,K,slot_size) or their precomputed `slot_kv` (from `slot_kv(slots)`, or the faster
        `fold_slot_attention(slots)`). With `query_positions` (B,M) long, the last block and the head run only
        there and the result is (B,M,V), the same rows as the full (B,L,V).

        With an empty `kv_cache` ([`PositionKVCache`]) the pass also stores every block's self-attention keys and
        values; with a filled one it is a cached sub-step (ReCAP): only the tokens at `query_positions` run, through
        every block, against the stored keys/values of all other positions (from the last full pass) → (B,M,V).
        With the tokens unchanged since that pass, the rows equal the full pass's (up to rounding).
        """
        if slot_kv is None:
            slot_kv = self.slot_kv(slots)
        num_tokens = self.config.num_tokens
        if tokens.ndim != 2 or tokens.shape[1] != num_tokens:
            raise ValueError(f"`tokens` must have shape (B, {num_tokens}), got {tuple(tokens.shape)}")
        if kv_cache is not None and kv_cache.is_filled:
            if query_positions is None:
                raise ValueError("a cached sub-step (filled `kv_cache`) needs `query_positions`")
            rows = tokens.gather(1, query_positions)  # (B,M)
            hidden = self.token_embedding(rows)
            if self.config.position_encoding != "rope":
                hidden = hidden + gather_rows(self.position_embedding.expand(len(rows), -1, -1), query_positions)
            hidden = self.decoder(self.embedding_dropout(hidden), slot_kv, position_cache=kv_cache,
                                  row_positions=query_positions)  # fmt: skip
            return self.head(hidden)  # (B,M,V)
        cached = {} if kv_cache is None else {"position_cache": kv_cache}
        hidden = self.decoder(self._decoder_inputs(tokens), slot_kv, query_positions=query_positions, **cached)
        return self.head(hidden)  # (B,L|M,d) → logits

    def _decoder_inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embeds the decoder's input tokens (B,L) (with [MASK]s) → (B,L,d)."""
        if self.config.position_encoding == "rope":
            return self.embedding_dropout(self.token_embedding(tokens))
        return self.embed_tokens(tokens, slice(0, tokens.shape[1]))

    def decoder_attention(
        self, tokens: torch.Tensor, slots: torch.Tensor, token_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Each decoder block's cross-attention over the slots (num_blocks,B,K,L) (see `cross_attention_maps`), the
        decoder fed `tokens` (B,L) with `token_mask` (B,L) bool masked; by default every token is masked, so that
        the decoder reads the slots alone, as when it generates from them."""
        if token_mask is None:
            token_mask = torch.ones_like(tokens, dtype=torch.bool)
        masked_tokens = tokens.masked_fill(token_mask, self.config.mask_token_id)
        return self.cross_attention_maps(self._decoder_inputs(masked_tokens), slots)

    @capture_hidden_states
    def forward(
        self,
        pixel_values: torch.Tensor,
        tau: float = 1.0,
        sigma: float = 0.0,
        token_mask: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        dvae_only: bool = False,
        codebook_entropy_weight: float | None = None,
        mixture_loss_weight: float | None = None,
        slot_distillation_weight: float = 0.0,
        slot_distillation_block: int | None = -1,
        slot_distillation_teacher: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SlotTransformerOutput | tuple:
        """Training pass.

        Args:
            pixel_values (`torch.FloatTensor` (B,C,H,W)): images in [0,1].
            tau (`float`): DVAE Gumbel-softmax temperature (annealed 1.0 → 0.1 by the training script).
            sigma (`float`): scale of the noise on the learned slot queries (annealed 1 → 0).
            token_mask (`torch.BoolTensor` (B,L), optional): tokens to mask; by default drawn with the training
                schedule (r ~ U(0,1), ⌈γ(r)·L⌉ masked).
            dvae_only (`bool`): train the tokenizer alone (its warm-up phase): loss = DVAE MSE, no slots or decoder.
            codebook_entropy_weight (`float`, optional): overrides `config.codebook_entropy_weight` for this pass.
            mixture_loss_weight (`float`, optional): overrides `config.mixture_loss_weight` for this pass (a model
                built without the mixture decoder ignores it).
            slot_distillation_weight (`float`): with w > 0, loss += w · the SPOT-style self-distillation of Slot
                Attention from the decoder (`slot_distillation_loss`): the decoder reads the slots from an all-masked
                canvas (`decoder_attention`, no gradient), and its cross-attention of `slot_distillation_block` (an
                index, -1 = the last block as SPOT; None = the blocks' mean) gives hard targets to the logits of Slot
                Attention's last iteration. 0 (the paper) computes nothing of it.
            slot_distillation_teacher (`torch.FloatTensor` (B,K,L), optional): a frozen teacher's masks over its own
                K slots (SPOT's teacher: another model's decoder cross-attention) to distil instead of this model's
                decoder; its slots are matched to this model's by the Hungarian algorithm as the decoder's are.
            generator (`torch.Generator` or one per image, optional): every draw of the pass (the DVAE's Gumbel noise,
                the slot noise, the token mask) comes from it, in training and eval mode alike; without one, from
                torch's global RNG.
            output_hidden_states (`bool`, optional): also return the decoder's hidden states (default:
                `config.output_hidden_states`). return_dict (`bool`, optional): a `SlotTransformerOutput` (default:
                `config.return_dict`) or its `to_tuple()`. Both are read by the `capture_hidden_states` decorator.
        """
        dvae_objective, dvae_mse, reconstruction, tokens = self.dvae_loss(
            pixel_values, tau, codebook_entropy_weight, generator
        )
        if dvae_only:
            return self.dvae_only_output(dvae_objective, dvae_mse, reconstruction, tokens)
        if slot_distillation_weight < 0:
            raise ValueError(f"`slot_distillation_weight` must be >= 0, got {slot_distillation_weight}")
        distil = slot_distillation_weight > 0
        slots, attention, *slot_logits = self.encode_slots(pixel_values, tokens, sigma=sigma, generator=generator,
                                                           return_logits=distil)  # fmt: skip
        if token_mask is None:
            batch_size, num_tokens = tokens.shape
            schedule = self.config.mask_schedule
            token_mask = random_token_mask(batch_size, num_tokens, schedule, generator, device=tokens.device)
        elif token_mask.shape != tokens.shape or token_mask.dtype != torch.bool:
            raise ValueError(
                f"`token_mask` must be a bool tensor {tuple(tokens.shape)}, got {token_mask.dtype} "
                f"{tuple(token_mask.shape)}"
            )
        masked_tokens = tokens.masked_fill(token_mask, self.config.mask_token_id)
        logits = self.token_logits(masked_tokens, slots)
        cross_entropy = token_cross_entropy(logits, tokens, token_mask if self.config.loss_on_masked_only else None)
        output = self.training_output(dvae_objective, dvae_mse, reconstruction, tokens, slots, attention, logits,
                                      cross_entropy, mixture_loss_weight, token_mask=token_mask)  # fmt: skip
        if distil:
            teacher = slot_distillation_teacher
            if teacher is None:
                with torch.no_grad():
                    teacher = select_decoder_attention(self.decoder_attention(tokens, slots), slot_distillation_block)
            elif teacher.shape[:2] != slots.shape[:2]:
                raise ValueError(
                    f"`slot_distillation_teacher` must be masks (B, K, cells) = ({slots.shape[0]}, {slots.shape[1]}, "
                    f"...), got {tuple(teacher.shape)}"
                )
            output.slot_distillation_cross_entropy = slot_distillation_loss(slot_logits[0], teacher)
            output.loss = output.loss + slot_distillation_weight * output.slot_distillation_cross_entropy
        return output


__all__ = ["MOGENTModel"]

# Registered with transformers' Auto classes when the package imports this module; a copy that travels with a saved
# model (`remote_code`: another module name) leaves the registry to transformers' `auto_map`.
if __name__.startswith("mogent_hf."):
    AutoModel.register(MOGENTConfig, MOGENTModel, exist_ok=True)
