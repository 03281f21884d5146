"""SLATEPipeline: the same interface as MOGENTPipeline, decoding autoregressively (one token per step)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

from mogent_hf.image_processing_mogent import MOGENTImageProcessor
from mogent_hf.modeling_slate import SLATEModel

from .pipeline_utils import ImageInput, SlotPipelineMixin, SlotPipelineOutput


class SLATEPipeline(SlotPipelineMixin, DiffusionPipeline):
    r"""Object-centric generation with the SLATE baseline. Component: `model` ([`SLATEModel`]).

    Decoding uses the KV cache unless `use_cache=False` (the official SLATE loop, which the paper timed). An
    autoregressive model cannot fill holes, so edits and reconstructions with `mask_ratio` > 0 redraw the image
    from the first re-masked token on (in raster order), keeping the tokens before it.
    """

    model_cpu_offload_seq = "model"
    _optional_components = ["image_processor"]

    def __init__(self, model: SLATEModel, image_processor: MOGENTImageProcessor | None = None):
        super().__init__()
        self.register_modules(model=model, image_processor=self.checked_image_processor(model, image_processor))

    @torch.no_grad()
    def __call__(
        self,
        images: ImageInput | None = None,
        slots: torch.Tensor | None = None,
        mask_ratio: float = 1.0,
        temperature: float = 0.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        num_images_per_prompt: int = 1,
        callback_on_step_end: Callable | PipelineCallback | MultiPipelineCallbacks | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> SlotPipelineOutput | tuple:
        """Decodes images from `images` (keeping the first (1 − mask_ratio)·L tokens) or from `slots`.

        `temperature` 0 is SLATE's greedy decoding; `generator` (one, or one per output image) also draws the
        Gaussian slot start of `images`. A step is one generated token: `callback_on_step_end` runs after each, with
        step index i counting up and timestep `num_timesteps` − 1 − i counting down. See
        [`MOGENTPipeline.__call__`] for the other arguments.
        """
        tokens, region, slots, slot_masks = self.prepare_decoding(
            images, slots, mask_ratio, generator, num_images_per_prompt
        )
        tokens = self._inpaint(
            tokens,
            region,
            slots,
            temperature=temperature,
            top_k=top_k,
            use_cache=use_cache,
            generator=generator,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
        )
        return self.finish(tokens, slots, slot_masks, output_type, return_dict)

    def reconstruction_region(self, tokens: torch.Tensor, mask_ratio: float, generator) -> torch.Tensor:
        """Re-masks the last round(mask_ratio·L) tokens (raster order): an autoregressive model continues a prefix."""
        num_tokens = tokens.shape[1]
        region = torch.arange(num_tokens, device=tokens.device) >= num_tokens - round(mask_ratio * num_tokens)
        return region.expand_as(tokens)

    def _inpaint(
        self,
        tokens,
        region,
        slots,
        temperature: float = 0.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator=None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> torch.Tensor:
        """Keeps the tokens before the batch's earliest `region` (B,L) position and generates the rest."""
        tensor_inputs = self.check_callback(callback_on_step_end, callback_on_step_end_tensor_inputs)
        num_tokens = tokens.shape[1]
        first = torch.where(
            region.any(1), region.int().argmax(1), torch.full_like(region[:, 0], num_tokens, dtype=torch.long)
        )
        prefix_length = int(first.min())
        self._num_timesteps, self._interrupt = num_tokens - prefix_length, False

        def step_callback(index: int, generated: torch.Tensor) -> bool:
            step = index - prefix_length
            new = self.step_end(callback_on_step_end, tensor_inputs, step, self._num_timesteps - 1 - step, generated)
            if new is not generated:
                generated.copy_(new)
            return self.interrupt

        generated = self.model.generate_tokens(
            slots,
            use_cache=use_cache,
            temperature=temperature,
            top_k=top_k,
            generator=generator,
            prefix=tokens[:, :prefix_length],
            step_callback=None if callback_on_step_end is None else step_callback,
        )
        # After an interrupt, the tokens not generated (still [BOS]) keep their start.
        return torch.where(generated == self.model.config.bos_token_id, tokens, generated)


__all__ = ["SLATEPipeline"]
