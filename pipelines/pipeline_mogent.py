"""MOGENTPipeline: images or slots → MaskGIT iterative decoding → images (reconstruct, generate, compose, edit)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

from mogent_hf.image_processing_mogent import MOGENTImageProcessor
from mogent_hf.modeling_mogent import MOGENTModel
from mogent_hf.scheduling_maskgit import MaskGITScheduler

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
    # shipped full-scene checkpoints (docs/results.md, "Issue 40: mask sources").
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
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> torch.Tensor:
        """MaskGIT loop: tokens (B,L) with `region` (B,L) bool re-masked → fully decoded tokens (B,L)."""
        self.check_steps(num_inference_steps)
        tensor_inputs = self.check_callback(callback_on_step_end, callback_on_step_end_tensor_inputs)
        mask_id = self.model.config.mask_token_id
        tokens = tokens.masked_fill(region.to(tokens.device), mask_id)
        num_masked_start = region.sum(1)
        slot_kv = self.model.fold_slot_attention(slots)  # once per image, reused by every step
        self.scheduler.set_timesteps(num_inference_steps, device=tokens.device)
        self._num_timesteps, self._interrupt = num_inference_steps, False
        for step, timestep in enumerate(self.progress_bar(self.scheduler.timesteps)):
            masked = tokens == mask_id
            counts = masked.sum(1)
            query_positions = None
            if bool((counts == counts[0]).all()) and counts[0] > 0:
                # Same number masked in every image: run the head on the masked positions only.
                query_positions = masked.int().argsort(dim=1, descending=True, stable=True)[:, : int(counts[0])]
            logits = self.model.token_logits(tokens, slot_kv=slot_kv, query_positions=query_positions)
            tokens, predicted = self.scheduler.step(
                logits,
                timestep,
                tokens,
                num_masked_start=num_masked_start,
                query_positions=query_positions,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
                return_dict=False,
            )
            tokens = self.step_end(callback_on_step_end, tensor_inputs, step, timestep, tokens)
            if self.interrupt:
                return torch.where(tokens == mask_id, predicted, tokens)
        return tokens


__all__ = ["MOGENTPipeline"]
