"""What MOGENTPipeline and SLATEPipeline share: image input checks, encoding, segmentation, scene composition and
editing by slot surgery, output post-processing, step-end callbacks, and loading from a Hub id. The two pipelines
differ only in how tokens are decoded from slots (`_inpaint`).

Conventions of diffusers' pipelines, kept here: a `generator` list holds one generator per output image and image b
draws everything (SLATE's slot start, the re-masked positions, the sampler) from generator b, so it does not depend
on the rest of the batch; `num_images_per_prompt` decodes each input (an image or a slot set) several times, the
samples of one input next to each other; `return_dict=False` returns `SlotPipelineOutput.to_tuple()`;
`callback_on_step_end(pipe, step_index, timestep, {"tokens": ...})` runs after every decoding step and may replace
the tokens or set `pipe._interrupt = True` to stop (see `interrupt`); `num_timesteps` is the number of steps of the
last call."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import BaseOutput

from mogent_hf.image_processing_mogent import MOGENTImageProcessor
from mogent_hf.modeling_base import SlotEncoderOutput, check_pixel_values
from mogent_hf.modules.grids import resize_grid
from mogent_hf.modules.masking import uniform
from mogent_hf.modules.slot_distillation import select_decoder_attention
from mogent_hf.precision import warn_if_emulated

from .concept_library import ConceptLibrary

ImageInput = str | Path | PIL.Image.Image | np.ndarray | torch.Tensor | list
# Where `segment` reads the slot masks: Slot Attention's last iteration, the decoder's cross-attention over the
# slots, or both maps averaged (see `combine_attention`).
MASK_SOURCES = ("slot_attention", "decoder", "combined")
# model_index.json key in which mogent_hf.remote_code records the package module of each file it writes
CODE_MODULES = "_mogent_hf_modules"


def combine_attention(slot_attention: torch.Tensor, decoder_attention: torch.Tensor) -> torch.Tensor:
    """Slot Attention's maps (B,K,N) and the decoder's (B,K,L) over the same slots, each summing to 1 over K → their
    mean (B,K,N), still a distribution over the slots at every cell; the decoder's token grid is resized bilinearly
    onto Slot Attention's where that is finer (`slot_input_stride`)."""
    return (slot_attention + resize_grid(decoder_attention, slot_attention.shape[-1])) / 2


def shuffle_slots(slots: torch.Tensor) -> torch.Tensor:
    """Slots (B,K,D) → slot i of image b taken from image (b + i) mod B (SlotDiffusion's composition protocol)."""
    return torch.stack([slots[:, i].roll(-i, dims=0) for i in range(slots.shape[1])], dim=1)


@dataclass
class SlotPipelineOutput(BaseOutput):
    """
    Args:
        images: decoded images, a list of PIL images, an array (B,H,W,3) or a tensor (B,3,H,W) in [0,1].
        tokens (`torch.LongTensor` (B,L)): the decoded DVAE tokens.
        slots (`torch.FloatTensor` (B,K,D)): the slots that conditioned the decoding.
        slot_masks (`torch.FloatTensor` (B,K,H,W), optional): slot attention of the input images, when there were any.
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    tokens: torch.LongTensor
    slots: torch.FloatTensor
    slot_masks: torch.FloatTensor | None = None


class SlotPipelineMixin:
    """Methods of both pipelines; the class using it is a `DiffusionPipeline` with a `model` component."""

    output_processor = VaeImageProcessor(vae_scale_factor=1, do_normalize=False)  # decoded images → output_type
    default_mask_source = "slot_attention"  # what `segment` reads without a `mask_source`
    _callback_tensor_inputs = ["tokens"]
    _push_remote_code = False  # push_to_hub sets it while diffusers' push_to_hub calls save_pretrained

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """diffusers' `from_pretrained`; a `torch_dtype` this device only emulates (bf16 on an AVX2 CPU) is logged
        with its measured slowdown."""
        pipe = super().from_pretrained(*args, **kwargs)
        warn_if_emulated(pipe.model.dtype, str(pipe.model.device))
        return pipe

    def to(self, *args, **kwargs):
        """diffusers' `to`; a dtype this device only emulates is logged, as in `from_pretrained`."""
        pipe = super().to(*args, **kwargs)
        warn_if_emulated(pipe.model.dtype, str(pipe.model.device))
        return pipe

    @classmethod
    def load_config(cls, *args, **kwargs):
        """diffusers' `load_config`; a `model_index.json` written with the pipeline's code (`push_remote_code`) names
        the files in the repo, and reads here as a plain one: this installed class loads its own classes."""
        loaded = super().load_config(*args, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded
        modules = config.pop(CODE_MODULES, None)
        if isinstance(modules, dict) and isinstance(config.get("_class_name"), list):
            config["_class_name"] = config["_class_name"][1]
            for name, value in config.items():
                if isinstance(value, list) and len(value) == 2 and value[0] in modules:
                    config[name] = [modules[value[0]], value[1]]
        return loaded

    def save_pretrained(self, save_directory, *args, push_remote_code: bool = False, **kwargs) -> None:
        """diffusers' `save_pretrained`; with `push_remote_code=True` the code of the pipeline and its components
        is written too (`mogent_hf.remote_code`), so that `DiffusionPipeline.from_pretrained(dir_or_id,
        trust_remote_code=True)` and `AutoModel.from_pretrained(..., subfolder="model", trust_remote_code=True)`
        load it without this package."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if push_remote_code or self._push_remote_code:
            from mogent_hf.remote_code import write_pipeline_code

            write_pipeline_code(self, save_directory)

    def push_to_hub(self, repo_id: str, *args, push_remote_code: bool = True, **kwargs) -> str:
        """diffusers' `push_to_hub`, with the pipeline's code in the repo unless `push_remote_code=False`."""
        self._push_remote_code = push_remote_code
        try:
            return super().push_to_hub(repo_id, *args, **kwargs)
        finally:
            self._push_remote_code = False

    @property
    def num_timesteps(self) -> int:
        """Decoding steps of the last call: MaskGIT's T, or the number of tokens SLATE generated."""
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` in a callback to stop decoding after that step. MOGENT then fills the tokens
        still masked with that step's prediction (`pred_original_sample`); SLATE leaves the tokens it has not
        generated as they started (the input image's, or code 0 on an empty canvas)."""
        return self._interrupt

    @classmethod
    def download(cls, pretrained_model_name, **kwargs) -> str:
        """Fetches a Hub repo (diffusers 0.42 cannot resolve components from outside diffusers/transformers by
        itself); honours `cache_dir`, `revision`, `token`, `local_files_only`, `force_download` and HF_HUB_OFFLINE."""
        names = ("cache_dir", "revision", "token", "local_files_only", "force_download", "proxies")
        return huggingface_hub.snapshot_download(
            pretrained_model_name, **{name: kwargs[name] for name in names if kwargs.get(name) is not None}
        )

    # ---- inputs ---------------------------------------------------------------------------------------------
    def prepare_images(self, images: ImageInput, name: str = "images") -> torch.Tensor:
        """Paths, PIL images, arrays or tensors of any size, or a list of these (see [`MOGENTImageProcessor`]) →
        float tensor (B,3,H,W) in [0,1] at the model's size, on the model's device and dtype."""
        batch = len(images) if isinstance(images, list | tuple) else None
        if isinstance(images, np.ndarray | torch.Tensor) and images.ndim == 4:
            batch = images.shape[0]
        if batch == 0:
            raise ValueError(f"`{name}` is empty: give at least one image")
        pixel_values = self.image_processor(images, return_tensors="pt", input_name=name).pixel_values
        check_pixel_values(pixel_values, self.model.config, name)
        return pixel_values.to(self._execution_device, self.model.dtype)

    @staticmethod
    def checked_image_processor(model, image_processor: MOGENTImageProcessor | None) -> MOGENTImageProcessor:
        """The pipeline's image processor: the given one (at the model's size), or the default for the model
        (checkpoints saved before processors existed load with it)."""
        size = model.config.image_size
        if image_processor is None:
            return MOGENTImageProcessor(size=size)
        if image_processor.size != {"height": size, "width": size}:
            raise ValueError(
                f"`image_processor` resizes to {image_processor.size}, the model takes {size}×{size} images"
            )
        return image_processor

    def check_generator(self, generator, batch_size: int) -> None:
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(
                f"`generator` list must have {batch_size} generators (one per output image), got {len(generator)}"
            )

    def input_generator(self, generator, num_inputs: int, num_images_per_prompt: int):
        """Checks `generator` for num_inputs·num_images_per_prompt output images → the generator of what is drawn
        once per input (SLATE's slot start, a composed scene's slots): a list keeps the first of each input's."""
        self.check_generator(generator, num_inputs * num_images_per_prompt)
        return generator[::num_images_per_prompt] if isinstance(generator, list) else generator

    # ---- encoding -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: ImageInput, generator: torch.Generator | None = None) -> SlotEncoderOutput:
        """Images → tokens (B,L), slots (B,K,D), attention (B,K,L), slot masks (B,K,H,W) (learned queries at σ=0;
        SLATE's Gaussian initialisation draws from `generator`)."""
        pixel_values = self.prepare_images(images)
        self.check_generator(generator, pixel_values.shape[0])
        return self.model.encode(pixel_values, generator=generator)

    @torch.no_grad()
    def segment(
        self,
        images: ImageInput,
        generator: torch.Generator | None = None,
        to_input_size: bool = False,
        mask_source: str | None = None,
        decoder_block: int | None = None,
    ) -> torch.LongTensor | list[torch.LongTensor]:
        """Images → label maps (B,H,W) at the model's resolution: for each pixel the slot with the largest soft
        mask, the token-grid map upsampled bilinearly to pixels before the argmax. With `to_input_size`, a list of
        one (H_i,W_i) map per image at its input size (the slot masks resized onto the crop the model saw; -1
        outside it).

        `mask_source` (one of `MASK_SOURCES`; None: the pipeline's `default_mask_source`): "slot_attention" (the
        slot encoder's attention, as `encode` returns it), "decoder" (the decoder's cross-attention over the slots,
        see the model's `decoder_attention`) or "combined" (the mean of the two, `combine_attention`).
        `decoder_block`: the decoder block read (an index, -1 = the last), or None for the blocks' mean."""
        mask_source = self.default_mask_source if mask_source is None else mask_source
        if mask_source not in MASK_SOURCES:
            raise ValueError(f"`mask_source` must be one of {MASK_SOURCES}, got {mask_source!r}")
        if mask_source == "slot_attention" and decoder_block is not None:
            raise ValueError(f"`decoder_block` ({decoder_block}) reads the decoder: give mask_source 'decoder' or "
                             "'combined', not 'slot_attention'")  # fmt: skip
        if not to_input_size:
            return self.source_masks(self.encode(images, generator=generator), mask_source, decoder_block).argmax(1)
        features = self.image_processor(images, return_tensors="pt", return_input_sizes=True)
        encoded = self.encode(features.pixel_values, generator=generator)
        slot_masks = self.source_masks(encoded, mask_source, decoder_block).cpu()
        return self.image_processor.post_process_segmentation(slot_masks, features.input_sizes)

    @torch.no_grad()
    def source_masks(
        self, encoded: SlotEncoderOutput, mask_source: str, decoder_block: int | None = None
    ) -> torch.Tensor:
        """Soft slot masks (B,K,H,W) of an `encode` output from `mask_source` (see `segment`)."""
        if mask_source == "slot_attention":
            return encoded.slot_masks
        maps = self.model.decoder_attention(encoded.tokens, encoded.slots)
        attention = select_decoder_attention(maps, decoder_block).to(encoded.attention.dtype)
        if mask_source == "combined":
            attention = combine_attention(encoded.attention, attention)
        return self.model.attention_to_masks(attention)

    def token_regions(self, slot_masks: torch.Tensor, slot_index: torch.Tensor) -> torch.Tensor:
        """bool (B,L): tokens whose 4×4 patch holds a pixel of slot `slot_index[b]` in argmax(slot_masks (B,K,H,W))."""
        labels = slot_masks.argmax(dim=1)  # (B,H,W)
        hits = (labels == slot_index.to(labels.device)[:, None, None]).float()[:, None]
        return F.max_pool2d(hits, kernel_size=4).flatten(1) > 0

    def prepare_decoding(self, images, slots, mask_ratio: float, generator, num_images_per_prompt: int = 1):
        """Checks `__call__`'s inputs → tokens (N,L), region to decode (N,L) bool, slots (N,K,D), slot masks or None,
        N = B·`num_images_per_prompt`: each input's slot set, repeated at rows b·n … b·n+n−1, decoded n times.

        From images: their tokens (encoded with `generator`; a list holds one generator per output image, and
        input b is encoded with generator b·n), with the model-specific `reconstruction_region` re-masked; from
        slots: an empty canvas, all of it to decode."""
        if (images is None) == (slots is None):
            raise ValueError("give exactly one of `images` (reconstruction) or `slots` (generation)")
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"`mask_ratio` must be in [0, 1], got {mask_ratio}")
        repeats = self.check_num_images_per_prompt(num_images_per_prompt)
        if images is not None:
            pixel_values = self.prepare_images(images)
            encode_generator = self.input_generator(generator, pixel_values.shape[0], repeats)
            encoded = self.model.encode(pixel_values, generator=encode_generator)
            tokens, slots, slot_masks = (
                value.repeat_interleave(repeats, dim=0) for value in (encoded.tokens, encoded.slots, encoded.slot_masks)
            )
            return tokens, self.reconstruction_region(tokens, mask_ratio, generator), slots, slot_masks
        self.model.check_slots(slots)
        slots = slots.to(self._execution_device, self.model.dtype).repeat_interleave(repeats, dim=0)
        self.check_generator(generator, slots.shape[0])
        num_tokens = self.model.config.num_tokens
        tokens = torch.zeros(slots.shape[0], num_tokens, dtype=torch.long, device=self._execution_device)
        return tokens, torch.ones_like(tokens, dtype=torch.bool), slots, None

    def check_num_images_per_prompt(self, num_images_per_prompt) -> int:
        if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
            raise ValueError(f"`num_images_per_prompt` must be an integer >= 1, got {num_images_per_prompt!r}")
        return num_images_per_prompt

    # ---- outputs --------------------------------------------------------------------------------------------
    def finish(self, tokens, slots, slot_masks, output_type: str, return_dict: bool):
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"`output_type` must be 'pil', 'np' or 'pt', got {output_type!r}")
        images = self.model.decode_tokens(tokens).float().clamp(0, 1)
        images = self.output_processor.postprocess(images, output_type=output_type)
        self.maybe_free_model_hooks()
        output = SlotPipelineOutput(images=images, tokens=tokens, slots=slots, slot_masks=slot_masks)
        return output if return_dict else output.to_tuple()

    def check_steps(self, num_inference_steps) -> None:
        """T must be an integer ≥ 1; T > L (more steps than tokens) warns: some steps then unmask nothing. diffusers
        refuses more steps than a scheduler has timesteps (DDIM), steps that cannot exist; these can run and only
        cost time (as the paper's fixed T = 20 does at 16 px, L = 16, in the Figure 2 benchmark)."""
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be an integer >= 1, got {num_inference_steps!r}")
        num_tokens = self.model.config.num_tokens
        if num_inference_steps > num_tokens:
            warnings.warn(
                f"`num_inference_steps` ({num_inference_steps}) is above the number of tokens ({num_tokens}): "
                f"at most {num_tokens} steps unmask anything, the others run the decoder for nothing",
                stacklevel=2,
            )

    def check_callback(self, callback_on_step_end, tensor_inputs: list[str] | None) -> list[str]:
        """The tensor names the callback asks for (a `PipelineCallback` names its own), checked against
        `_callback_tensor_inputs`; default: all of them."""
        if isinstance(callback_on_step_end, PipelineCallback | MultiPipelineCallbacks):
            tensor_inputs = callback_on_step_end.tensor_inputs
        tensor_inputs = list(self._callback_tensor_inputs if tensor_inputs is None else tensor_inputs)
        unknown = [name for name in tensor_inputs if name not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` must be among {self._callback_tensor_inputs}, got {unknown}"
            )
        return tensor_inputs

    def step_end(self, callback_on_step_end, tensor_inputs: list[str], step: int, timestep, tokens: torch.Tensor):
        """Runs the callback after a decoding step with the asked tensors → the tokens it returns, or `tokens`."""
        if callback_on_step_end is None:
            return tokens
        local = {"tokens": tokens}
        outputs = callback_on_step_end(self, step, timestep, {name: local[name] for name in tensor_inputs})
        return outputs.pop("tokens", tokens)

    # ---- composition ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def build_concept_library(
        self, images_or_dataset, num_concepts: int | None = None, batch_size: int = 32, seed: int = 0
    ) -> ConceptLibrary:
        """Slots of every image → k-means concepts (cosine distance: k-means on unit-normalised slots).

        `images_or_dataset`: a tensor or array of N images, a list of images (paths, PIL images, single-image
        arrays or tensors), or an iterable of batches (tensors, or dicts with "pixel_values" or "image").
        `num_concepts` defaults to the number of slots K.
        """
        items = images_or_dataset
        first = items[0] if isinstance(items, list | tuple) and items else None
        is_image_list = isinstance(first, str | Path | PIL.Image.Image) or getattr(first, "ndim", 4) <= 3
        if isinstance(items, torch.Tensor | np.ndarray) or is_image_list:
            batches = [items[start : start + batch_size] for start in range(0, len(items), batch_size)]
        else:
            batches = images_or_dataset
        generator = torch.Generator().manual_seed(seed)
        slots = []
        for batch in batches:
            if isinstance(batch, dict):
                batch = batch["pixel_values"] if "pixel_values" in batch else batch["image"]
            slots.append(self.encode(batch, generator=generator).slots.float().cpu().flatten(0, 1))
        if not slots:
            raise ValueError("`images_or_dataset` is empty: no slots to cluster")
        num_concepts = self.model.config.num_slots if num_concepts is None else num_concepts
        return ConceptLibrary.fit(torch.cat(slots), num_concepts, seed=seed)

    @torch.no_grad()
    def compose(
        self,
        num_images: int,
        library: ConceptLibrary | str,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        num_images_per_prompt: int = 1,
        **decode_kwargs,
    ):
        """New scenes: each takes K distinct concepts of `library` (a library or its file) and one random slot of
        each, then decodes from an empty canvas, `num_images_per_prompt` times. With a list of generators (one per
        output image), scene s picks its slots with the generator of its first decoding."""
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"`num_images` must be an integer >= 1, got {num_images!r}")
        if isinstance(library, str):
            library = ConceptLibrary.load(library)
        if library.slot_size != self.model.config.slot_size:
            raise ValueError(
                f"`library` holds slots of size {library.slot_size}, the model's are {self.model.config.slot_size}"
            )
        scene_generator = self.input_generator(
            generator, num_images, self.check_num_images_per_prompt(num_images_per_prompt)
        )
        slots = library.sample(num_images, self.model.config.num_slots, generator=scene_generator)
        return self(
            slots=slots.to(self._execution_device, self.model.dtype),
            generator=generator,
            output_type=output_type,
            return_dict=return_dict,
            num_images_per_prompt=num_images_per_prompt,
            **decode_kwargs,
        )

    @torch.no_grad()
    def compose_by_shuffling(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, **decode_kwargs
    ):
        """SlotDiffusion's protocol: slot i of image b comes from image (b + i) mod B; decode from an empty canvas."""
        encoded = self.encode(images, generator=decode_kwargs.get("generator"))
        return self(
            slots=shuffle_slots(encoded.slots), output_type=output_type, return_dict=return_dict, **decode_kwargs
        )

    # ---- editing --------------------------------------------------------------------------------------------
    def check_slot_index(self, index, name: str) -> int:
        num_slots = self.model.config.num_slots
        if not isinstance(index, int) or not 0 <= index < num_slots:
            raise ValueError(f"`{name}` must be a slot index in [0, {num_slots}), got {index!r}")
        return index

    @torch.no_grad()
    def edit(
        self,
        images_a: ImageInput,
        images_b: ImageInput,
        swap: list[tuple[int, int]],
        output_type: str = "pil",
        return_dict: bool = True,
        **decode_kwargs,
    ):
        """Swaps slot i of each image of `images_a` with slot j of the same-index image of `images_b`, for every
        (i, j) in `swap`, and redraws both: tokens whose patch overlaps the old or the new object's mask are
        re-masked and inpainted; every other token is kept. Returns images_a edited, then images_b edited (2B)."""
        first, second = self.encode(images_a), self.encode(images_b)
        if first.slots.shape[0] != second.slots.shape[0]:
            raise ValueError(
                f"`images_a` and `images_b` must have the same batch size, got "
                f"{first.slots.shape[0]} and {second.slots.shape[0]}"
            )
        if not swap:
            raise ValueError("`swap` must list at least one (slot of a, slot of b) pair")
        batch = first.slots.shape[0]
        slots = torch.cat([first.slots, second.slots]).clone()  # (2B,K,D)
        tokens = torch.cat([first.tokens, second.tokens])
        region = torch.zeros_like(tokens, dtype=torch.bool)
        masks_a, masks_b = first.slot_masks, second.slot_masks
        for i, j in swap:
            i, j = self.check_slot_index(i, "swap[][0]"), self.check_slot_index(j, "swap[][1]")
            slots[:batch, i], slots[batch:, j] = second.slots[:, j], first.slots[:, i]
            index_a, index_b = torch.full((batch,), i), torch.full((batch,), j)
            both = self.token_regions(masks_a, index_a) | self.token_regions(masks_b, index_b)
            region |= torch.cat([both, both])
        return self.inpaint(
            tokens, region, slots, torch.cat([masks_a, masks_b]), output_type, return_dict, **decode_kwargs
        )

    @torch.no_grad()
    def remove(
        self,
        images: ImageInput,
        slot_index: int,
        background_slot: int | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        **decode_kwargs,
    ):
        """Removes the object of slot `slot_index`: its slot is replaced by the background slot (by default the slot
        covering the most pixels of each image) and the tokens under its mask are inpainted."""
        encoded = self.encode(images)
        self.check_slot_index(slot_index, "slot_index")
        batch = encoded.slots.shape[0]
        if background_slot is None:
            background = encoded.slot_masks.argmax(1).flatten(1)
            background = F.one_hot(background, encoded.slots.shape[1]).sum(1).argmax(1)  # (B,)
        else:
            background = torch.full((batch,), self.check_slot_index(background_slot, "background_slot"))
        rows = torch.arange(batch)
        slots = encoded.slots.clone()
        slots[:, slot_index] = encoded.slots[rows, background.to(slots.device)]
        region = self.token_regions(encoded.slot_masks, torch.full((batch,), slot_index))
        return self.inpaint(
            encoded.tokens, region, slots, encoded.slot_masks, output_type, return_dict, **decode_kwargs
        )

    def inpaint(self, tokens, region, slots, slot_masks, output_type, return_dict, **decode_kwargs):
        """Decodes `slots` keeping `tokens` outside `region` (B,L) bool; a model-specific `_inpaint`."""
        new_tokens = self._inpaint(tokens, region, slots, **decode_kwargs)
        return self.finish(new_tokens, slots, slot_masks, output_type, return_dict)

    def random_keep_mask(self, batch_size: int, num_tokens: int, mask_ratio: float, generator) -> torch.Tensor:
        """bool (B,L): True at round(mask_ratio·L) positions drawn uniformly per image."""
        count = round(mask_ratio * num_tokens)
        ranks = uniform((batch_size, num_tokens), generator, self._execution_device).argsort(1).argsort(1)
        return ranks < count


__all__ = [
    "MASK_SOURCES",
    "DiffusionPipeline",
    "SlotPipelineMixin",
    "SlotPipelineOutput",
    "combine_attention",
    "shuffle_slots",
]
