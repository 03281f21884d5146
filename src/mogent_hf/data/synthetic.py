"""Synthetic scenes as `datasets.DatasetDict`s (columns `image`, `mask` (mode L) + labels), written in the Hub's
parquet layout (`data/{split}-00000-of-00001.parquet` + a dataset card) and pushable with `push_to_hub`."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import PIL.Image
import torch

from .render import RENDERERS, SHAPES3D_FACTORS, SHAPES3D_SIZE, check_resolution

TEST_SEED_OFFSET = 1_000_003  # test scenes come from another seed stream than training scenes
SHAPES3D_TEST_START = 400_000  # SyntheticScenes: shapes3d test scenes are the last 80,000 of the 480,000


def _features(kind: str) -> datasets.Features:
    columns = {"image": datasets.Image(), "mask": datasets.Image(mode="L")}
    if kind == "clevr":
        columns.update(num_objects=datasets.Value("int32"), visible_objects=datasets.Value("int32"))
    else:
        columns.update({name: datasets.Value("int32") for name in SHAPES3D_FACTORS})
    return datasets.Features(columns)


def scene_record(kind: str, seed: int, index: int, resolution: int, **render_kwargs) -> dict:
    """One row: PIL image, PIL mask (mode L) and the scalar labels."""
    if kind not in RENDERERS:
        raise ValueError(f"`kind` must be one of {tuple(RENDERERS)}, got {kind!r}")
    scene = RENDERERS[kind](seed, index, resolution, **render_kwargs)
    labels = {key: value for key, value in scene.labels.items() if np.isscalar(value)}
    return {"image": PIL.Image.fromarray(scene.image), "mask": PIL.Image.fromarray(scene.mask, mode="L"), **labels}


def _generate(kind, seed, start, count, resolution, render_kwargs):
    for index in range(start, start + count):
        yield scene_record(kind, seed, index, resolution, **render_kwargs)


def make_synthetic_dataset(
    kind: str, num_train: int, num_test: int, resolution: int = 64, seed: int = 0, **render_kwargs
) -> datasets.DatasetDict:
    """Renders `num_train` + `num_test` scenes of `kind` ("clevr" or "shapes3d") into a DatasetDict.

    Train scenes are indices 0..num_train-1 of `seed`; test scenes use seed + TEST_SEED_OFFSET (clevr) or the
    indices after the training ones (shapes3d), so the splits never share a scene.
    """
    if kind not in RENDERERS:
        raise ValueError(f"`kind` must be one of {tuple(RENDERERS)}, got {kind!r}")
    check_resolution(resolution)
    if kind == "shapes3d" and resolution != 64:
        raise ValueError(f"`resolution` of shapes3d is 64 (as DeepMind's dataset), got {resolution}")
    features = _features(kind)
    test_seed, test_start = (seed + TEST_SEED_OFFSET, 0) if kind == "clevr" else (seed, num_train)
    splits = {"train": (seed, 0, num_train), "test": (test_seed, test_start, num_test)}
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_generator(
                _generate,
                gen_kwargs=dict(
                    kind=kind,
                    seed=split_seed,
                    start=start,
                    count=count,
                    resolution=resolution,
                    render_kwargs=render_kwargs,
                ),  # fmt: skip
                features=features,
            )
            for split, (split_seed, start, count) in splits.items()
            if count > 0
        }
    )


def save_as_hub_layout(dataset: datasets.DatasetDict, out_dir: str | Path, card: str | None = None) -> Path:
    """Writes `data/{split}-00000-of-00001.parquet` per split (the layout `push_to_hub` makes), plus README.md."""
    out_dir = Path(out_dir)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    for split, part in dataset.items():
        part.to_parquet(str(out_dir / "data" / f"{split}-00000-of-00001.parquet"))
    if card is not None:
        (out_dir / "README.md").write_text(card)
    return out_dir


def push_dataset_folder(folder: str | Path, repo_id: str, token: str | None = None) -> str:
    """Pushes a `save_as_hub_layout` folder (data/*.parquet + README.md) to the dataset repo `repo_id` in one
    commit, replacing its data files; the card is validated first. Returns the repo's full id."""
    from huggingface_hub import DatasetCard, HfApi

    folder = Path(folder)
    DatasetCard((folder / "README.md").read_text()).validate()
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, repo_type="dataset", exist_ok=True).repo_id
    files = ["data/*.parquet", "README.md"]
    api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=folder, allow_patterns=files,
                      delete_patterns=["data/*"], commit_message="Synthetic scenes by mogent_hf.data")  # fmt: skip
    return repo_id


def _size_category(num_rows: int) -> str:
    """The Hub's `size_categories` value for a dataset of `num_rows` rows."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if num_rows < limit:
            return name
    return "1M<n<10M"


def dataset_card(dataset: datasets.DatasetDict, kind: str, resolution: int, seed: int, **render_kwargs) -> str:
    """The card of a `make_synthetic_dataset(kind, ..., resolution, seed, **render_kwargs)` result, rendered from
    hub_cards/dataset_card.md: features, splits and sizes (`dataset_info`), the parquet files per split (`configs`),
    and the renderer's seed and parameters, so that the data can be made again."""
    from huggingface_hub import DatasetCard, DatasetCardData

    template = Path(__file__).resolve().parents[3] / "hub_cards" / "dataset_card.md"
    if not template.exists():
        raise FileNotFoundError(f"dataset card template not found at {template}")
    num_rows = {split: part.num_rows for split, part in dataset.items()}
    features = next(iter(dataset.values())).features
    renderer = {"kind": kind, "resolution": resolution, "seed": seed, "test_split": (
        f"seed {seed + TEST_SEED_OFFSET}" if kind == "clevr" else f"indices from {num_rows.get('train', 0)}"),
        "parameters": dict(render_kwargs)}  # fmt: skip
    data = DatasetCardData(
        license="mit",
        task_categories=["image-segmentation"],
        tags=["object-centric", "synthetic", kind, "mogent_hf"],
        size_categories=[_size_category(sum(num_rows.values()))],
        configs=[{"config_name": "default",
                  "data_files": [{"split": split, "path": f"data/{split}-*"} for split in num_rows]}],
        dataset_info={"features": features._to_yaml_list(),
                      "splits": [{"name": split, "num_examples": part.num_rows, "num_bytes": part.data.nbytes}
                                 for split, part in dataset.items()],
                      "dataset_size": sum(part.data.nbytes for part in dataset.values())},
        mogent_hf_renderer=renderer,
    )  # fmt: skip
    columns = {name: str(feature) for name, feature in features.items()}
    return str(DatasetCard.from_template(data, template_path=str(template), kind=kind, resolution=resolution,
                                         seed=seed, num_rows=num_rows, columns=columns, renderer=renderer))  # fmt: skip


class SyntheticScenes(torch.utils.data.Dataset):
    """`num_scenes` scenes of `kind` rendered on the fly (no files): row i is scene i of the split's seed stream,
    {"image": uint8 (H,W,3), "mask": uint8 (H,W)}. The "test" split never shares a scene with "train": clevr test
    scenes come from seed + TEST_SEED_OFFSET (as `make_synthetic_dataset`), shapes3d test scenes are the indices
    from SHAPES3D_TEST_START on (training uses at most the indices before it)."""

    def __init__(self, kind: str, num_scenes: int, resolution: int = 64, seed: int = 0, split: str = "train",
                 **render_kwargs):  # fmt: skip
        if kind not in RENDERERS:
            raise ValueError(f"`kind` must be one of {tuple(RENDERERS)}, got {kind!r}")
        if split not in ("train", "test"):
            raise ValueError(f"`split` must be 'train' or 'test', got {split!r}")
        check_resolution(resolution)
        self.kind, self.num_scenes, self.resolution, self.render_kwargs = kind, num_scenes, resolution, render_kwargs
        limit = SHAPES3D_TEST_START if split == "train" else SHAPES3D_SIZE - SHAPES3D_TEST_START
        if kind == "shapes3d" and num_scenes > limit:
            raise ValueError(f"`num_scenes` of the shapes3d {split} split is at most {limit}, got {num_scenes}")
        self.seed, self.start = seed, 0
        if split == "test":
            self.seed, self.start = (seed + TEST_SEED_OFFSET, 0) if kind == "clevr" else (seed, SHAPES3D_TEST_START)

    def __len__(self) -> int:
        return self.num_scenes

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every scene rendered and stacked: images uint8 (N,H,W,3), masks uint8 (N,H,W)."""
        scenes = [self[index] for index in range(len(self))]
        return np.stack([scene["image"] for scene in scenes]), np.stack([scene["mask"] for scene in scenes])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.num_scenes:
            raise IndexError(f"scene index {index} out of range for {self.num_scenes} scenes")
        scene = RENDERERS[self.kind](self.seed, self.start + index, self.resolution, **self.render_kwargs)
        return {"image": scene.image, "mask": scene.mask}
