"""MOGENTImageProcessor: any picture in (a path, a PIL image, a numpy array or a tensor; any size; RGB, RGBA or
greyscale), the model's `pixel_values` (B,3,H,W) in [0,1] out; and slot masks mapped back onto the input's pixels.

Layout of arrays and tensors, decided by one rule: an image is (H,W) greyscale, or (C,H,W) / (H,W,C) with C in
{1, 3, 4}; it is channels-first when its first axis has 1, 3 or 4 entries and its last does not, channels-last
when its last axis has 1, 3 or 4 entries. A 4-D array is a batch, decided the same way on its axes 1 and -1.
Integer values are 0..255, floating-point values lie in [0,1]. Alpha is composited over white (as transformers'
`convert_to_rgb` does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from transformers import AutoImageProcessor
from transformers.image_processing_base import ImageProcessingMixin  # noqa: F401  (diffusers looks this name up)
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

CROPS = ("center_square", "clevr", "none")
# Slot Attention / SLATE crop of CLEVR's 240×320 images (rows 29:221, cols 64:256), as fractions of the image.
CLEVR_CROP_FRACTIONS = (29 / 240, 64 / 320, 221 / 240, 256 / 320)
CHANNELS = (1, 3, 4)


def channels_first(shape: tuple[int, ...]) -> bool | None:
    """The layout rule on (…, A, …, Z): True for channels-first (A in {1,3,4}, Z not), False for channels-last
    (Z in {1,3,4}), None when neither axis can hold channels."""
    first, last = shape[0], shape[-1]
    if first in CHANNELS and last not in CHANNELS:
        return True
    return False if last in CHANNELS else None


def crop_box(height: int, width: int, crop: str) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the region of an image of (height, width) that the model sees."""
    if crop == "center_square":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return top, left, top + side, left + side
    if crop == "clevr":
        top, left, bottom, right = CLEVR_CROP_FRACTIONS
        return round(top * height), round(left * width), round(bottom * height), round(right * width)
    return 0, 0, height, width


class MOGENTImageProcessor(BaseImageProcessor):
    r"""Prepares images for [`MOGENTModel`] and [`SLATEModel`]: load, convert to RGB, crop, resize, scale to [0,1].

    Args:
        size (`dict[str, int]` or `int`, defaults to `{"height": 64, "width": 64}`): the model's resolution
            (`config.image_size`).
        crop (`str`, defaults to `"center_square"`): the region kept before resizing: `"center_square"` (the
            largest centred square), `"clevr"` (rows 29:221 and columns 64:256 of CLEVR's 240×320 images, the crop
            training uses, scaled for other sizes) or `"none"` (the whole image, stretched).
        resample (`int`, defaults to `PIL.Image.BILINEAR`): the PIL resampling filter (training's).

    Accepts a path (str or `Path`), a PIL image, a numpy array or a tensor (one image or a batch, see the module
    docstring for the layout rule), or a list of any of these.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        size: dict[str, int] | int | None = None,
        crop: str = "center_square",
        resample: int = PIL.Image.BILINEAR,
        **kwargs,
    ):
        super().__init__(**kwargs)
        size = 64 if size is None else size
        self.size = {"height": size, "width": size} if isinstance(size, int) else dict(size)
        if crop not in CROPS:
            raise ValueError(f"`crop` must be one of {CROPS}, got {crop!r}")
        self.crop = crop
        self.resample = int(resample)

    # ---- inputs → a flat list of single images ---------------------------------------------------------------
    def split_images(self, images, name: str = "images") -> list[np.ndarray]:
        """Any accepted input → a list of (H,W,C) arrays, uint8 or float32 in [0,1], C in {1,3,4}."""
        if isinstance(images, list | tuple):
            if not images:
                raise ValueError(f"`{name}` is an empty list: give at least one image")
            return [image for i, item in enumerate(images) for image in self.split_images(item, f"{name}[{i}]")]
        if isinstance(images, str | Path):
            return [self.load(images, name)]
        if isinstance(images, PIL.Image.Image):
            return [pil_to_array(images)]
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu()
            images = (images.float() if images.is_floating_point() else images).numpy()
        if not isinstance(images, np.ndarray):
            raise TypeError(
                f"`{name}` must be a path, a PIL image, a numpy array, a torch.Tensor or a list of these, "
                f"got {type(images).__name__}"
            )
        return [to_unit_range(image, name, images.shape) for image in array_to_hwc(images, name)]

    def load(self, path: str | Path, name: str = "images") -> np.ndarray:
        """An image file → (H,W,C) uint8 array."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"`{name}`: no such image file: {path}")
        try:
            with PIL.Image.open(path) as image:
                return pil_to_array(image)
        except PIL.UnidentifiedImageError as error:
            raise ValueError(f"`{name}`: {path} is not an image PIL can read") from error

    # ---- one image → pixel values ----------------------------------------------------------------------------
    def process_one(self, image: np.ndarray) -> np.ndarray:
        """(H,W,C) uint8 or float → (3, height, width) float32 in [0,1]: RGB, crop, resize."""
        image = to_rgb(image)
        top, left, bottom, right = crop_box(*image.shape[:2], self.crop)
        image = image[top:bottom, left:right]
        height, width = self.size["height"], self.size["width"]
        if image.shape[:2] != (height, width):
            image = resize(image, height, width, self.resample)
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)

    def preprocess(
        self, images, return_tensors: str | None = None, return_input_sizes: bool = False, input_name: str = "images"
    ) -> BatchFeature:
        """Images → `BatchFeature` with `pixel_values` (B,3,height,width) float32 in [0,1] ("pt": a tensor, "np" or
        None: an array), and with `return_input_sizes` also `input_sizes` (B,2): each input's (H, W).
        `input_name` names the argument in error messages."""
        arrays = self.split_images(images, input_name)
        data = {"pixel_values": np.stack([self.process_one(image) for image in arrays])}
        if return_input_sizes:
            data["input_sizes"] = np.array([image.shape[:2] for image in arrays], dtype=np.int64)
        return BatchFeature(data=data, tensor_type=return_tensors)

    # ---- masks back onto the input ---------------------------------------------------------------------------
    def post_process_slot_masks(self, slot_masks: torch.Tensor, input_sizes) -> list[torch.Tensor]:
        """Slot masks (B,K,height,width) at the processed resolution → one (K,H,W) float tensor per image at its
        input size (B,2): bilinear resize onto the crop box, zero outside it (pixels the model did not see)."""
        if slot_masks.ndim != 4 or len(input_sizes) != slot_masks.shape[0]:
            raise ValueError(
                f"`slot_masks` must be (B,K,H,W) with B = len(input_sizes) = {len(input_sizes)}, "
                f"got {tuple(slot_masks.shape)}"
            )
        outputs = []
        for masks, (height, width) in zip(slot_masks.float(), input_sizes):
            top, left, bottom, right = crop_box(int(height), int(width), self.crop)
            full = masks.new_zeros(masks.shape[0], int(height), int(width))
            full[:, top:bottom, left:right] = F.interpolate(
                masks[None], size=(bottom - top, right - left), mode="bilinear", align_corners=False
            )[0]
            outputs.append(full)
        return outputs

    def post_process_segmentation(self, slot_masks: torch.Tensor, input_sizes) -> list[torch.Tensor]:
        """Slot masks (B,K,height,width) → one label map (H,W) long per image at its input size: the slot with the
        largest resized attention, -1 outside the crop box."""
        labels = []
        for masks, (height, width) in zip(self.post_process_slot_masks(slot_masks, input_sizes), input_sizes):
            top, left, bottom, right = crop_box(int(height), int(width), self.crop)
            label_map = torch.full((int(height), int(width)), -1, dtype=torch.long)
            label_map[top:bottom, left:right] = masks[:, top:bottom, left:right].argmax(0)
            labels.append(label_map)
        return labels


def pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """PIL image of any mode → (H,W,3) or, where it has transparency, (H,W,4) uint8."""
    transparent = "A" in image.getbands() or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if transparent else "RGB"))


def array_to_hwc(array: np.ndarray, name: str) -> list[np.ndarray]:
    """(H,W), (C,H,W), (H,W,C) or a batch (B,C,H,W) / (B,H,W,C) → a list of (H,W,C) views, by the layout rule."""
    expected = "(H,W), (C,H,W), (H,W,C), (B,C,H,W) or (B,H,W,C) with C in {1, 3, 4}"
    if array.ndim == 2:
        return [array[..., None]]
    if array.ndim not in (3, 4) or channels_first(array.shape[array.ndim - 3 :]) is None:
        raise ValueError(f"`{name}` must be an image {expected}, got shape {tuple(array.shape)}")
    batch = array if array.ndim == 4 else array[None]
    if channels_first(batch.shape[1:]):
        batch = batch.transpose(0, 2, 3, 1)
    return list(batch)


def to_unit_range(image: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """(H,W,C) of any numeric dtype → uint8 (integers in 0..255) or float32 in [0,1]; else a ValueError."""
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.integer):
        if image.size and (image.min() < 0 or image.max() > 255):
            raise ValueError(f"`{name}` of integers must lie in 0..255, got values in [{image.min()}, {image.max()}]")
        return image.astype(np.uint8)
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"`{name}` must hold integers (0..255) or floats ([0, 1]), got dtype {image.dtype}")
    image = image.astype(np.float32)
    if image.size and (image.min() < -1e-3 or image.max() > 1 + 1e-3):
        raise ValueError(
            f"`{name}` of floats must lie in [0, 1], got values in [{image.min():.3f}, {image.max():.3f}] "
            f"(shape {tuple(shape)}); pass uint8 for 0..255"
        )
    return image.clip(0, 1)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H,W,C) with C in {1,3,4} → (H,W,3) of the same dtype: grey repeated, alpha composited over white."""
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 3:
        return image
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    colour, alpha = image[..., :3].astype(np.float32) / scale, image[..., 3:].astype(np.float32) / scale
    rgb = colour * alpha + (1.0 - alpha)
    return (rgb * 255).round().astype(np.uint8) if image.dtype == np.uint8 else rgb


def resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """(h,w,3) uint8 (as training resizes: PIL on 8-bit RGB) or float32 (PIL mode "F", channel by channel) →
    (height,width,3) of the same dtype."""
    if image.dtype == np.uint8:
        return np.asarray(PIL.Image.fromarray(np.ascontiguousarray(image)).resize((width, height), resample))
    channels = [
        np.asarray(PIL.Image.fromarray(np.ascontiguousarray(image[..., c])).resize((width, height), resample))
        for c in range(3)
    ]
    return np.stack(channels, axis=2).clip(0, 1)


__all__ = ["MOGENTImageProcessor"]

# Registered with transformers' Auto classes when the package imports this module; a copy that travels with a saved
# model (`remote_code`: another module name) leaves the registry to transformers' `auto_map`.
if __name__.startswith("mogent_hf."):
    from .configuration_mogent import MOGENTConfig, SLATEConfig  # (in a remote-code copy: never reached)

    for _config_class in (MOGENTConfig, SLATEConfig):
        AutoImageProcessor.register(_config_class, image_processor_classes={"pil": MOGENTImageProcessor}, exist_ok=True)
