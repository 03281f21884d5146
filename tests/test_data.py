import gzip

import datasets
import h5py
import numpy as np
import pytest
import torch

from mogent_hf.data import (
    Shapes3DH5,
    collate,
    iter_clevr_with_masks,
    load_image_dataset,
    make_synthetic_dataset,
    render_clevr,
    render_shapes3d,
    save_as_hub_layout,
    shapes3d_factors,
)
from mogent_hf.data.tfrecord import build_example, parse_example, read_records, write_records


@pytest.mark.parametrize("render, kwargs", [(render_clevr, dict(resolution=64)), (render_clevr, dict(resolution=128)),
                                            (render_clevr, dict(simple=True)), (render_shapes3d, {})])  # fmt: skip
def test_same_seed_and_index_give_byte_identical_scenes(render, kwargs):
    first, second = render(3, 7, **kwargs), render(3, 7, **kwargs)
    assert first.image.tobytes() == second.image.tobytes() and first.mask.tobytes() == second.mask.tobytes()
    assert first.image.dtype == np.uint8 and first.image.shape[2] == 3
    assert render(3, 8, **kwargs).image.tobytes() != first.image.tobytes()


@pytest.mark.parametrize("index", range(20))
def test_clevr_masks_agree_with_labels(index):
    scene = render_clevr(0, index, 64)
    ids = set(np.unique(scene.mask).tolist()) - {0}
    assert 3 <= scene.labels["num_objects"] <= 10
    assert ids <= set(range(1, scene.labels["num_objects"] + 1))
    assert len(ids) == scene.labels["visible_objects"]
    assert len(scene.labels["shape"]) == scene.labels["num_objects"]


def test_simple_clevr_has_a_uniform_background_and_flat_objects():
    scene = render_clevr(0, 1, 64, simple=True)
    assert len(np.unique(scene.image[scene.mask == 0].reshape(-1, 3), axis=0)) == 1
    for object_id in set(np.unique(scene.mask).tolist()) - {0}:
        assert len(np.unique(scene.image[scene.mask == object_id].reshape(-1, 3), axis=0)) == 1


def test_shapes3d_has_three_classes_and_factor_labels():
    scene = render_shapes3d(0, 5)
    assert set(np.unique(scene.mask).tolist()) == {0, 1, 2} and scene.image.shape == (64, 64, 3)
    assert set(scene.labels) == {"floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"}
    assert shapes3d_factors(0) == dict.fromkeys(scene.labels, 0)
    assert shapes3d_factors(479999) == dict(floor_hue=9, wall_hue=9, object_hue=9, scale=7, shape=3, orientation=14)


def test_parquet_layout_round_trips_through_load_dataset(tmp_path):
    dataset = make_synthetic_dataset("clevr", num_train=6, num_test=3, resolution=32, seed=1)
    save_as_hub_layout(dataset, tmp_path, card="---\nlicense: mit\n---\n# test\n")
    assert (tmp_path / "data" / "train-00000-of-00001.parquet").exists()
    loaded = load_image_dataset(str(tmp_path), split="train")
    assert loaded.num_rows == 6
    for row, original in zip(loaded, dataset["train"]):
        assert np.array_equal(np.asarray(row["image"]), np.asarray(original["image"]))
        assert np.array_equal(np.asarray(row["mask"]), np.asarray(original["mask"]))
        assert row["num_objects"] == original["num_objects"]
    scene = render_clevr(1, 0, 32)
    assert np.array_equal(np.asarray(loaded[0]["image"]), scene.image)
    assert np.array_equal(np.asarray(loaded[0]["mask"]), scene.mask)
    with pytest.raises(ValueError, match="mask_column.*segmentation"):
        load_image_dataset(str(tmp_path), split="train", mask_column="segmentation")


def test_collate_builds_model_inputs():
    dataset = make_synthetic_dataset("shapes3d", num_train=4, num_test=0, seed=0)["train"]
    batch = collate([dataset[i] for i in range(4)])
    assert batch["pixel_values"].shape == (4, 3, 64, 64) and batch["pixel_values"].max() <= 1
    assert batch["masks"].shape == (4, 64, 64) and batch["masks"].dtype == torch.long
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate)
    assert next(iter(loader))["pixel_values"].shape == (2, 3, 64, 64)


def test_3dshapes_h5_reader_reads_the_official_keys_lazily(tmp_path):
    path = tmp_path / "3dshapes.h5"
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    labels = np.random.default_rng(1).random((5, 6))
    with h5py.File(path, "w") as handle:
        handle["images"], handle["labels"] = images, labels
    dataset = Shapes3DH5(path)
    assert len(dataset) == 5
    assert np.array_equal(dataset[3]["image"], images[3]) and np.allclose(dataset[3]["labels"], labels[3])
    assert collate([dataset[0], dataset[1]])["pixel_values"].shape == (2, 3, 64, 64)


def test_tfrecord_examples_round_trip():
    example = {"name": [b"abc", b"d"], "pixels": np.arange(10, dtype=np.uint8),
               "x": np.array([0.5, -1.25], np.float32), "count": np.array([3, 0, 7])}  # fmt: skip
    parsed = parse_example(build_example(example))
    assert parsed["name"] == [b"abc", b"d"] and np.array_equal(parsed["pixels"], example["pixels"])
    assert np.array_equal(parsed["x"], example["x"]) and np.array_equal(parsed["count"], example["count"])


def write_clevr_records(path, num_objects_per_scene):
    rng = np.random.default_rng(0)
    records, expected = [], []
    for count in num_objects_per_scene:
        image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        masks = np.zeros((11, 240, 320, 1), np.uint8)
        masks[0] = 255
        for entity in range(1, count + 1):
            top, left = 30 + 15 * entity, 70 + 15 * entity
            masks[:, top : top + 20, left : left + 20] = 0
            masks[entity, top : top + 20, left : left + 20] = 255
        visibility = np.array([1.0] * (count + 1) + [0.0] * (10 - count), np.float32)
        example = {"image": image.ravel(), "mask": masks.ravel(), "visibility": visibility,
                   "color": [b"red"] * 11, "pixel_coords": rng.random(33).astype(np.float32)}  # fmt: skip
        records.append(build_example(example))
        expected.append((image, masks[..., 0].argmax(0)))
    write_records(path, records)
    return expected


def test_clevr_with_masks_tfrecords_are_cropped_resized_and_filtered(tmp_path):
    path = tmp_path / "clevr_with_masks_train.tfrecords.gz"
    expected = write_clevr_records(path, [3, 8])
    with gzip.open(path) as handle:
        assert handle.read(1)  # really GZIP-compressed
    assert len(list(read_records(path, verify_checksums=True))) == 2
    rows = list(iter_clevr_with_masks(path, resolution=192))
    assert len(rows) == 2 and rows[0]["num_objects"] == 3 and rows[1]["num_objects"] == 8
    image, labels = expected[0]
    assert np.array_equal(rows[0]["image"], image[29:221, 64:256])  # 192 → 192: exactly the crop
    assert np.array_equal(rows[0]["mask"], labels[29:221, 64:256])
    small = list(iter_clevr_with_masks(path, resolution=128, max_objects=6))
    assert len(small) == 1 and small[0]["image"].shape == (128, 128, 3) and small[0]["mask"].shape == (128, 128)
    assert set(np.unique(small[0]["mask"]).tolist()) == {0, 1, 2, 3}


def test_bad_data_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        make_synthetic_dataset("coco", 1, 1)
    with pytest.raises(ValueError, match="resolution"):
        render_clevr(0, 0, resolution=30)
    with pytest.raises(ValueError, match="resolution"):
        make_synthetic_dataset("clevr", 1, 1, resolution=66)
    corrupt = tmp_path / "broken.tfrecords"
    write_clevr_records(corrupt, [3])
    corrupt.write_bytes(corrupt.read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupt"):
        list(iter_clevr_with_masks(corrupt))
    not_h5 = tmp_path / "3dshapes.h5"
    not_h5.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="HDF5"):
        Shapes3DH5(not_h5)
    with pytest.raises(FileNotFoundError):
        Shapes3DH5(tmp_path / "missing.h5")


def test_datasets_image_columns_are_images():
    features = make_synthetic_dataset("clevr", 1, 0, resolution=32)["train"].features
    assert isinstance(features["image"], datasets.Image) and features["mask"].mode == "L"


def test_synthetic_scenes_render_on_the_fly_and_keep_test_scenes_apart():
    from mogent_hf.data import SyntheticScenes, render_clevr

    train = SyntheticScenes("clevr", 4, resolution=32, seed=5, max_objects=4)
    test = SyntheticScenes("clevr", 4, resolution=32, seed=5, split="test", max_objects=4)
    assert len(train) == 4 and train[2]["image"].shape == (32, 32, 3) and train[2]["mask"].dtype == np.uint8
    assert np.array_equal(train[2]["image"], render_clevr(5, 2, 32, max_objects=4).image)
    assert not any(np.array_equal(train[i]["image"], test[i]["image"]) for i in range(4))
    images, masks = train.arrays()
    assert images.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32)
    assert np.array_equal(images[2], train[2]["image"]) and np.array_equal(masks[3], train[3]["mask"])
    shapes = SyntheticScenes("shapes3d", 2, seed=1, split="test")
    assert shapes[0]["mask"].max() == 2
    with pytest.raises(IndexError):
        train[4]
    with pytest.raises(ValueError, match="`split`"):
        SyntheticScenes("clevr", 4, split="validation")
    with pytest.raises(ValueError, match="at most 400000"):
        SyntheticScenes("shapes3d", 400_001)
