"""MOGENTPipeline: images or slots → MaskGIT iterative decoding → images (reconstruct, generate, compose, edit).

Decoding strategies besides the paper's (T = 20 steps, most confident tokens first, every step a full pass): the
scheduler's `unmasking_order="halton"` and `confidence_threshold` (see `MaskGITScheduler`), and the pipeline's
`cache_interval` k (ReCAP, arXiv 2505.19089): a full pass every k steps; at the steps between, only the tokens that
the k steps unmask run, through every block, against the other positions' keys/values kept from the full pass. With a
confidence threshold, an image whose tokens are all unmasked leaves the batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

from mogent_hf.image_processing_mogent import MOGENTImageProcessor
from mogent_hf.modeling_mogent import MOGENTModel
from mogent_hf.modules.transformer import PositionKVCache
from mogent_hf.scheduling_maskgit import MaskGITScheduler, top_positions

from .pipeline_utils import ImageInput, SlotPipelineMixin, SlotPipelineOutput


class MOGENTPipeline(SlotPipelineMixin, DiffusionPipeline):
    r"""Object-centric scene generation and editing with MOGENT.

    Components: `model` ([`MOGENTModel`]) and `scheduler` ([`MaskGITScheduler`]).

    Example:
    ```python
    >>> from mogent_hf import MOGENTPipeline
    >>> pipe = MOGENTPipeline.from_pretrained("checkpoints/mogent-small")   # a directory or a Hub id
    >>> labels = pipe.segment(images)                                    # (B,H,W) slot index per pixel
    >>> recon = pipe(images=images, mask_ratio=0.5).images               # keep half of the tokens
    ```
    """

    model_cpu_offload_seq = "model"
    # Slot Attention's and the decoder's masks averaged: higher FG-ARI and mBO than Slot Attention's alone on both
    # shipped full-scene checkpoints (docs/results.md, "Mask sources").
    default_mask_source = "combined"
    _optional_components = ["image_processor"]

    def __init__(
        self, model: MOGENTModel, scheduler: MaskGITScheduler, image_processor: MOGENTImageProcessor | None = None
    ):
        super().__init__()
        self.register_modules(
            model=model, scheduler=scheduler, image_processor=self.checked_image_processor(model, image_processor)
        )

    @torch.no_grad()
    def __call__(
        self,
        images: ImageInput | None = None,
        slots: torch.Tensor | None = None,
        num_inference_steps: int = 20,
        mask_ratio: float = 1.0,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        cache_interval: int = 1,
        output_type: str = "pil",
        return_dict: bool = True,
        num_images_per_prompt: int = 1,
        callback_on_step_end: Callable | PipelineCallback | MultiPipelineCallbacks | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> SlotPipelineOutput | tuple:
        """Decodes images from `images` (reconstruction) or from `slots` (generation from an empty canvas).

        Args:
            images: PIL image(s), arrays (B,H,W,3) or a tensor (B,3,H,W) in [0,1]; encoded into slots and tokens.
            slots (`torch.FloatTensor` (B,K,D)): decode these instead (all tokens start masked).
            num_inference_steps (`int`): T, MaskGIT steps (20 in the paper), at most the number of tokens L.
            mask_ratio (`float`): with `images`, the fraction of their tokens re-masked (drawn at random) and
                decoded; the rest are kept. 1.0 decodes everything from the image's slots.
            temperature (`float`): logit temperature of the token sampler (0 = argmax). top_k (`int`, optional).
            generator: a `torch.Generator` or one per output image, for the masked positions and the sampler.
            cache_interval (`int`): k, a full decoder pass every k steps, cached sub-steps between (see the module);
                1 (default): every step a full pass. The fast setting, `num_inference_steps=12, cache_interval=4`:
                3.1× fewer decoder FLOPs than T = 20, +2% MSE on the shipped model (docs/benchmarks.md).
            output_type (`str`): "pil", "np" (B,H,W,3) or "pt" (B,3,H,W), values in [0,1].
            return_dict (`bool`): a `SlotPipelineOutput`, or its `to_tuple()` (images, tokens, slots[, slot_masks]).
            num_images_per_prompt (`int`): decodings of each input image or slot set (B·n images out).
            callback_on_step_end: `fn(pipe, step_index, timestep, {"tokens": ...})` → dict, after every step; may
                replace "tokens" or set `pipe._interrupt = True`. callback_on_step_end_tensor_inputs: the names it
                gets, among `_callback_tensor_inputs` (default: all).
        """
        tokens, region, slots, slot_masks = self.prepare_decoding(
            images, slots, mask_ratio, generator, num_images_per_prompt
        )
        tokens = self._inpaint(
            tokens,
            region,
            slots,
            num_inference_steps,
            temperature,
            top_k,
            generator,
            cache_interval,
            callback_on_step_end,
            callback_on_step_end_tensor_inputs,
        )
        return self.finish(tokens, slots, slot_masks, output_type, return_dict)

    def reconstruction_region(self, tokens: torch.Tensor, mask_ratio: float, generator) -> torch.Tensor:
        """Re-masks round(mask_ratio·L) tokens drawn at random per image."""
        return self.random_keep_mask(tokens.shape[0], tokens.shape[1], mask_ratio, generator)

    def _inpaint(
        self,
        tokens: torch.Tensor,
        region: torch.Tensor,
        slots: torch.Tensor,
        num_inference_steps: int = 20,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator=None,
        cache_interval: int = 1,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> torch.Tensor:
        """MaskGIT loop: tokens (B,L) with `region` (B,L) bool re-masked → fully decoded tokens (B,L)."""
        self.check_steps(num_inference_steps)
        scheduler = self.scheduler
        if not isinstance(cache_interval, int) or cache_interval < 1:
            raise ValueError(f"`cache_interval` must be an integer >= 1, got {cache_interval!r}")
        early_exit = scheduler.config.confidence_threshold is not None
        if cache_interval > 1 and early_exit:
            raise ValueError("`cache_interval` > 1 does not combine with the scheduler's `confidence_threshold`")
        tensor_inputs = self.check_callback(callback_on_step_end, callback_on_step_end_tensor_inputs)
        mask_id = self.model.config.mask_token_id
        tokens = tokens.masked_fill(region.to(tokens.device), mask_id)
        num_masked_start = region.sum(1)
        slot_kv = self.model.fold_slot_attention(slots)  # once per image, reused by every step
        kv_cache = PositionKVCache() if cache_interval > 1 else None
        group = None  # the positions that the current cached sub-steps query
        scheduler.set_timesteps(num_inference_steps, device=tokens.device)
        self._num_timesteps, self._interrupt = num_inference_steps, False
        for step, timestep in enumerate(self.progress_bar(scheduler.timesteps)):
            rows = None  # all images; with early exit, those with tokens left to decode
            if early_exit:
                unfinished = (tokens == mask_id).any(1)
                if not unfinished.any():
                    break
                rows = None if unfinished.all() else unfinished.nonzero()[:, 0]
            batch = self._images(rows, tokens, num_masked_start, slot_kv, generator)
            step_tokens, step_start, step_slot_kv, step_generator = batch
            if step % cache_interval == 0:  # a full pass (every step, unless cached sub-steps)
                query_positions = self._step_queries(step_tokens, timestep, step_start)
                if kv_cache is not None:
                    kv_cache.clear()
                    if query_positions is not None and query_positions.shape[1] == 0:
                        query_positions = None  # the full pass still fills the cache
            else:
                query_positions = group
            if query_positions is not None and query_positions.shape[1] == 0:  # nothing to unmask at this step
                logits = torch.empty(len(step_tokens), 0, self.model.config.vocab_size, device=tokens.device)
            else:
                logits = self.model.token_logits(
                    step_tokens, slot_kv=step_slot_kv, query_positions=query_positions, kv_cache=kv_cache
                )
            output = scheduler.step(
                logits,
                timestep,
                step_tokens,
                num_masked_start=step_start,
                query_positions=query_positions,
                temperature=temperature,
                top_k=top_k,
                generator=step_generator,
            )
            if kv_cache is not None and step % cache_interval == 0:  # the queries of the next cached sub-steps
                group = scheduler.positions_to_unmask(
                    step_tokens, timestep, step_start, output.confidence, num_steps=cache_interval
                )
            predicted = output.pred_original_sample
            if rows is None:
                tokens = output.prev_sample
            else:
                tokens = tokens.index_copy(0, rows, output.prev_sample)
                predicted = tokens.index_copy(0, rows, predicted)
            tokens = self.step_end(callback_on_step_end, tensor_inputs, step, timestep, tokens)
            if self.interrupt:
                return self._fill_masked(torch.where(tokens == mask_id, predicted, tokens), slot_kv)
        return tokens

    def _step_queries(self, tokens: torch.Tensor, timestep, num_masked_start: torch.Tensor) -> torch.Tensor | None:
        """The positions a full pass needs logits at (B,M), or None for all: the masked ones (the paper's
        decoding: only when every image has as many, else all L, as before the other strategies; with a confidence
        threshold, padded); in the Halton order without a threshold, only those this step unmasks."""
        masked = tokens == self.model.config.mask_token_id
        counts = masked.sum(1)
        if self.scheduler.config.confidence_threshold is not None:
            return top_positions(masked.float(), counts)
        if self.scheduler.config.unmasking_order == "halton":
            return self.scheduler.positions_to_unmask(tokens, timestep, num_masked_start)
        if bool((counts == counts[0]).all()) and counts[0] > 0:
            # Same number masked in every image: run the head on the masked positions only.
            return masked.int().argsort(dim=1, descending=True, stable=True)[:, : int(counts[0])]
        return None

    @staticmethod
    def _images(rows: torch.Tensor | None, tokens, num_masked_start, slot_kv, generator):
        """tokens, start counts, slot conditioning and generator(s) of the images `rows` (None: all)."""
        if rows is None:
            return tokens, num_masked_start, slot_kv, generator
        index = rows.tolist()
        # folded slots (a `FoldedSlotAttention` dataclass, maybe of a model loaded as remote code) or keys/values
        kept_kv = [dataclasses.replace(kv, score_map=kv.score_map[rows], value_map=kv.value_map[rows])
                   if dataclasses.is_dataclass(kv) else tuple(part[rows] for part in kv) for kv in slot_kv]  # fmt: skip
        kept_generator = [generator[i] for i in index] if isinstance(generator, list) else generator
        return tokens[rows], num_masked_start[rows], kept_kv, kept_generator

    def _fill_masked(self, tokens: torch.Tensor, slot_kv) -> torch.Tensor:
        """After an interrupt: tokens still masked (a step that predicted only some positions) by one full pass's
        most likely codes."""
        masked = tokens == self.model.config.mask_token_id
        if not masked.any():
            return tokens
        return torch.where(masked, self.model.token_logits(tokens, slot_kv=slot_kv).argmax(-1), tokens)


__all__ = ["MOGENTPipeline"]
