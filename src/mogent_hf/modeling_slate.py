"""SLATE (Singh et al. 2022), the paper's baseline: the same tokenizer and slot encoder with an autoregressive
transformer decoder ([BOS] first, teacher-forced next-token cross-entropy on every token). Generation runs one
token per step, with a KV cache (fast) or re-running the whole prefix every step as the official code does."""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import (
    AutoModel,
    PreTrainedModel,  # noqa: F401  (diffusers' loader looks the base class up by name here)
)

from .configuration_mogent import SLATEConfig
from .modeling_base import (
    SlotTransformerOutput,
    SlotTransformerPreTrainedModel,
    capture_hidden_states,
    token_cross_entropy,
)
from .modules import sample_tokens
from .modules.transformer import SlotConditioning


class SLATEModel(SlotTransformerPreTrainedModel):
    """SLATE. `forward` computes the training losses; `generate_tokens` decodes slots into DVAE tokens.

    Example:
    ```python
    >>> import torch
    >>> from mogent_hf import SLATEConfig, SLATEModel
    >>> model = SLATEModel(SLATEConfig.from_preset("tiny")).eval()
    >>> slots = model.encode(torch.rand(1, 3, 32, 32)).slots
    >>> images = model.decode_tokens(model.generate_tokens(slots))
    ```
    """

    config_class = SLATEConfig
    config: SLATEConfig
    causal_decoder = True
    encoder_position_offset = 1

    def __init__(self, config: SLATEConfig):
        super().__init__(config)
        self.post_init()

    def _decoder_inputs(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Embeds decoder inputs (B,T) that sit at positions start..start+T-1 of the [BOS]-shifted sequence."""
        if self.config.position_encoding == "rope":
            return self.embedding_dropout(self.token_embedding(tokens))
        return self.embed_tokens(tokens, slice(start, start + tokens.shape[1]))

    def _shifted(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B,T) → [BOS] + tokens[:, :-1]."""
        bos = tokens.new_full((tokens.shape[0], 1), self.config.bos_token_id)
        return torch.cat([bos, tokens[:, :-1]], dim=1)

    def token_logits(
        self,
        tokens: torch.Tensor,
        slots: torch.Tensor | None = None,
        slot_kv: SlotConditioning | None = None,
    ) -> torch.Tensor:
        """Teacher-forced next-token logits (B,L,V): position l predicts token l from [BOS] + tokens[:l]."""
        if slot_kv is None:
            slot_kv = self.slot_kv(slots)
        hidden = self.decoder(self._decoder_inputs(self._shifted(tokens), 0), slot_kv)
        return self.head(hidden)

    def decoder_attention(self, tokens: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Each decoder block's cross-attention over the slots (num_blocks,B,K,L) (see `cross_attention_maps`),
        teacher-forced on `tokens` (B,L) as in training: position l reads the slots to predict token l."""
        return self.cross_attention_maps(self._decoder_inputs(self._shifted(tokens), 0), slots)

    @torch.no_grad()
    def generate_tokens(
        self,
        slots: torch.Tensor,
        use_cache: bool = True,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        prefix: torch.Tensor | None = None,
        step_callback: Callable[[int, torch.Tensor], bool] | None = None,
    ) -> torch.Tensor:
        """Decodes slots (B,K,slot_size) into DVAE tokens (B,L), one token per step.

        `temperature` 0 is greedy (SLATE's argmax); otherwise exact sampling (optionally top-k). `prefix` (B,P)
        holds given first tokens (raster order) that generation continues from. `use_cache=True` keeps a K/V cache
        and folds the slots' cross-attention once (`fold_slot_attention`); `use_cache=False` runs the official
        SLATE loop: every step re-embeds and re-decodes the whole prefix, recomputes the slots' cross-attention
        keys/values and applies the head to every prefix position.

        `step_callback(index, tokens)` runs after token `index` is drawn, with the tokens (B,L) so far (later
        positions hold [BOS]); it may write into them (the next step reads `tokens[:, index]`; earlier tokens are
        already in the cache, so changing them changes the output only) and returns True to stop there.
        """
        self.check_slots(slots)
        batch_size, num_tokens = slots.shape[0], self.config.num_tokens
        tokens = slots.new_full((batch_size, num_tokens), self.config.bos_token_id, dtype=torch.long)
        bos = tokens[:, :1].clone()
        start = 0
        if prefix is not None:
            if prefix.ndim != 2 or prefix.shape[0] != batch_size or prefix.shape[1] > num_tokens:
                raise ValueError(f"`prefix` must be (B={batch_size}, P<={num_tokens}), got {tuple(prefix.shape)}")
            start = prefix.shape[1]
            tokens[:, :start] = prefix
        if use_cache:
            slot_kv = self.fold_slot_attention(slots)
            cache = self.decoder.new_cache(batch_size, num_tokens, like=slots)
            step_input = torch.cat([bos, tokens[:, :start]], dim=1)  # [BOS] + prefix, then one token a step
            for index in range(start, num_tokens):
                hidden = self.decoder(self._decoder_inputs(step_input, cache.length), slot_kv, cache=cache)
                tokens[:, index], _ = sample_tokens(self.head(hidden[:, -1]), temperature, top_k, generator)
                if step_callback is not None and step_callback(index, tokens):
                    break
                step_input = tokens[:, index : index + 1]
            return tokens
        for index in range(start, num_tokens):
            sequence = torch.cat([bos, tokens[:, :index]], dim=1)  # (B,index+1)
            logits = self.head(self.decoder(self._decoder_inputs(sequence, 0), self.slot_kv(slots)))  # all positions
            tokens[:, index], _ = sample_tokens(logits[:, -1], temperature, top_k, generator)
            if step_callback is not None and step_callback(index, tokens):
                break
        return tokens

    @capture_hidden_states
    def forward(
        self,
        pixel_values: torch.Tensor,
        tau: float = 1.0,
        sigma: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        dvae_only: bool = False,
        codebook_entropy_weight: float | None = None,
        mixture_loss_weight: float | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SlotTransformerOutput | tuple:
        """Training pass: DVAE MSE + next-token cross-entropy on all L tokens.

        Args:
            pixel_values (`torch.FloatTensor` (B,C,H,W)): images in [0,1].
            tau (`float`): DVAE Gumbel-softmax temperature.
            sigma (`float`): noise scale on learned slot queries (used only with `slot_init="learned_queries"`).
            dvae_only (`bool`): train the tokenizer alone (its warm-up phase): loss = DVAE MSE, no slots or decoder.
            codebook_entropy_weight (`float`, optional): overrides `config.codebook_entropy_weight` for this pass.
            mixture_loss_weight (`float`, optional): overrides `config.mixture_loss_weight` for this pass (a model
                built without the mixture decoder ignores it).
            generator (`torch.Generator` or one per image, optional): every draw of the pass (the DVAE's Gumbel noise,
                the Gaussian slot start) comes from it, in training and eval mode alike; without one, from torch's
                global RNG (in eval mode the slot start is then a fixed draw, see `SlotAttention.initial_slots`).
            output_hidden_states, return_dict: as in [`MOGENTModel.forward`].
        """
        dvae_objective, dvae_mse, reconstruction, tokens = self.dvae_loss(
            pixel_values, tau, codebook_entropy_weight, generator
        )
        if dvae_only:
            return self.dvae_only_output(dvae_objective, dvae_mse, reconstruction, tokens)
        slots, attention = self.encode_slots(pixel_values, tokens, sigma=sigma, generator=generator)
        logits = self.token_logits(tokens, slots)
        cross_entropy = token_cross_entropy(logits, tokens, None)
        return self.training_output(dvae_objective, dvae_mse, reconstruction, tokens, slots, attention, logits,
                                    cross_entropy, mixture_loss_weight)  # fmt: skip


__all__ = ["SLATEModel"]

# Registered with transformers' Auto classes when the package imports this module; a copy that travels with a saved
# model (`remote_code`: another module name) leaves the registry to transformers' `auto_map`.
if __name__.startswith("mogent_hf."):
    AutoModel.register(SLATEConfig, SLATEModel, exist_ok=True)
