"""Data for mogent_hf: seeded synthetic scenes with masks, loaders for Hub/local datasets, 3dshapes.h5 and
CLEVR-with-masks TFRecords, and the transforms that turn them into model inputs."""

from .loaders import Shapes3DH5, clevr_example_to_row, iter_clevr_with_masks, load_image_dataset
from .render import RENDERERS, Scene, render_clevr, render_shapes3d, shapes3d_factors
from .synthetic import (
    SyntheticScenes,
    dataset_card,
    make_synthetic_dataset,
    push_dataset_folder,
    save_as_hub_layout,
    scene_record,
)
from .transforms import collate, image_to_tensor, mask_to_tensor

__all__ = [
    "RENDERERS",
    "Scene",
    "Shapes3DH5",
    "SyntheticScenes",
    "clevr_example_to_row",
    "collate",
    "dataset_card",
    "image_to_tensor",
    "iter_clevr_with_masks",
    "load_image_dataset",
    "make_synthetic_dataset",
    "mask_to_tensor",
    "push_dataset_folder",
    "render_clevr",
    "render_shapes3d",
    "save_as_hub_layout",
    "scene_record",
    "shapes3d_factors",
]
