"""Loaders that all return rows {"image": uint8 (H,W,3), "mask": uint8 (H,W) or absent, labels...}:
any `datasets` Hub id or local directory, DeepMind's 3dshapes.h5 (lazy) and CLEVR-with-masks TFRecords."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch

from .tfrecord import parse_example, read_records

CLEVR_IMAGE_SIZE, CLEVR_MAX_ENTITIES = (240, 320), 11
CLEVR_CROP = (slice(29, 221), slice(64, 256))  # Slot Attention / SLATE: 192×192 centre crop


def load_image_dataset(
    name_or_path: str,
    split: str = "train",
    image_column: str = "image",
    mask_column: str | None = "mask",
    **load_kwargs,
):
    """A `datasets.Dataset` from a Hub id or a local directory, with columns renamed to `image` (and `mask`).

    `mask_column=None` loads images only. A dataset that is neither a local directory nor on the Hub, a split or a
    named column that it does not have, is a one-line error naming what was asked for and what there is.
    """
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    try:
        dataset = datasets.load_dataset(name_or_path, split=split, **load_kwargs)
    except DatasetNotFoundError as error:
        raise FileNotFoundError(
            f"dataset {name_or_path!r} is neither a local directory nor a dataset repository on the Hub ({error})"
        ) from None
    except ValueError as error:
        if "Unknown split" not in str(error):
            raise
        available = list(datasets.get_dataset_split_names(name_or_path, **load_kwargs))
        raise ValueError(f"`split` {split!r} is not a split of {name_or_path!r}: {available}") from None
    for role, column in (("image_column", image_column), ("mask_column", mask_column)):
        if column is not None and column not in dataset.column_names:
            raise ValueError(f"`{role}` {column!r} is not a column of {name_or_path!r}: {dataset.column_names}")
    renames = {image_column: "image"}
    if mask_column is not None:
        renames[mask_column] = "mask"
        dataset = dataset.cast_column(mask_column, datasets.Image(mode="L"))
    return dataset.rename_columns({old: new for old, new in renames.items() if old != new})


class Shapes3DH5(torch.utils.data.Dataset):
    """DeepMind's 3dshapes.h5 (`images` (N,64,64,3) uint8, `labels` (N,6) float), read lazily row by row."""

    def __init__(self, path: str | Path, indices: range | None = None):
        import h5py

        if not Path(path).exists():
            raise FileNotFoundError(f"3dshapes file not found: {path}")
        try:
            self.file = h5py.File(path, "r")
        except OSError as error:
            raise ValueError(f"`{path}` is not a readable HDF5 file: {error}") from error
        missing = {"images", "labels"} - set(self.file.keys())
        if missing:
            raise ValueError(f"`{path}` lacks the 3dshapes keys {sorted(missing)} (has {sorted(self.file.keys())})")
        self.images, self.labels = self.file["images"], self.file["labels"]
        self.indices = indices if indices is not None else range(len(self.images))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        row = self.indices[index]
        return {"image": np.asarray(self.images[row]), "labels": np.asarray(self.labels[row], np.float32)}


def _resize(array: np.ndarray, size: int, resample) -> np.ndarray:
    return np.asarray(PIL.Image.fromarray(array).resize((size, size), resample))


def clevr_example_to_row(example: dict, resolution: int = 128) -> dict:
    """A parsed CLEVR-with-masks example → image (res,res,3) uint8, mask (res,res) uint8 (0 = background; entity
    k's pixels = k), and labels. Crop rows 29:221, cols 64:256, then resize (image bilinear, mask nearest)."""
    image = example["image"].reshape(*CLEVR_IMAGE_SIZE, 3)
    entity_masks = example["mask"].reshape(CLEVR_MAX_ENTITIES, *CLEVR_IMAGE_SIZE)
    labels = entity_masks.argmax(0).astype(np.uint8)  # (240,320); entity 0 is the background
    image, labels = image[CLEVR_CROP], labels[CLEVR_CROP]
    visibility = np.asarray(example.get("visibility", np.ones(CLEVR_MAX_ENTITIES)), np.float32)
    return {
        "image": _resize(image, resolution, PIL.Image.BILINEAR),
        "mask": _resize(labels, resolution, PIL.Image.NEAREST),
        "num_objects": int(visibility[1:].sum()),
    }


def iter_clevr_with_masks(
    path: str | Path, resolution: int = 128, max_objects: int | None = None, verify_checksums: bool = False
):
    """Rows of a CLEVR-with-masks TFRecord file (multi-object-datasets format), optionally keeping only scenes
    with at most `max_objects` objects (6 = CLEVR6; objects = visible non-background entities)."""
    for record in read_records(path, verify_checksums):
        example = parse_example(record)
        for key in ("image", "mask"):
            if key not in example:
                raise ValueError(f"`{path}` is not CLEVR-with-masks: a record has no {key!r} feature")
        row = clevr_example_to_row(example, resolution)
        if max_objects is None or row["num_objects"] <= max_objects:
            yield row
