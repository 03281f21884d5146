"""MOGENTImageProcessor: every input kind and layout gives the same pixel values, resize and crop match training's
transforms, masks go back onto the input's pixels, AutoImageProcessor round trip, and the pipelines use it."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor

from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTImageProcessor, MOGENTModel, MOGENTPipeline
from mogent_hf.data.loaders import clevr_example_to_row
from mogent_hf.image_processing_mogent import channels_first


def random_uint8(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def processor():
    return MOGENTImageProcessor(size=32)


def pixels(processor, images):
    return processor(images, return_tensors="pt").pixel_values


def test_every_input_kind_and_layout_gives_the_same_pixel_values(processor, tmp_path):
    batch = random_uint8(3, 32, 32, 3)  # (B,H,W,C) uint8
    reference = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255
    PIL.Image.fromarray(batch[0]).save(tmp_path / "0.png")
    chw = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
    kinds = {
        "uint8 (B,H,W,C)": batch,
        "uint8 (B,C,H,W), torch layout": chw,
        "float (B,H,W,C)": batch.astype(np.float64) / 255,
        "tensor float (B,C,H,W)": reference,
        "tensor uint8 (B,H,W,C)": torch.from_numpy(batch),
        "tensor float16 (B,C,H,W)": reference.half(),
        "PIL list": [PIL.Image.fromarray(image) for image in batch],
        "list of (H,W,C) arrays": list(batch),
        "list of (C,H,W) tensors": list(reference),
        "list of (1,C,H,W) tensors": [image[None] for image in reference],
        "list of mixed kinds": [str(tmp_path / "0.png"), chw[1], reference[2]],
    }
    for kind, images in kinds.items():
        tolerance = 1e-3 if "float16" in kind else 0
        assert torch.allclose(pixels(processor, images), reference, atol=tolerance, rtol=0), kind
    single = {"path": tmp_path / "0.png", "PIL": PIL.Image.fromarray(batch[0]), "(C,H,W)": chw[0]}
    for kind, image in single.items():
        assert torch.equal(pixels(processor, image), reference[:1]), kind


def test_layout_rule_is_channels_first_only_when_the_first_axis_holds_channels_and_the_last_does_not():
    assert channels_first((3, 64, 64)) is True and channels_first((64, 64, 3)) is False
    assert channels_first((4, 64, 64)) is True and channels_first((64, 64, 1)) is False
    assert channels_first((3, 64, 4)) is False  # both could: the last axis wins
    assert channels_first((64, 64, 64)) is None
    numpy_batch = random_uint8(4, 3, 64, 64)  # torch layout in numpy: the "got (4, 64, 3, 64)" case
    out = MOGENTImageProcessor(size=64)(numpy_batch, return_tensors="pt").pixel_values
    assert torch.equal(out, torch.from_numpy(numpy_batch).float() / 255)


def test_greyscale_is_repeated_and_alpha_is_composited_over_white(processor):
    grey = random_uint8(32, 32)
    expected = torch.from_numpy(grey).float().div(255).expand(3, 32, 32)[None]
    for image in (grey, grey[..., None], grey[None], PIL.Image.fromarray(grey, mode="L")):
        assert torch.equal(pixels(processor, image), expected)
    rgba = np.concatenate([random_uint8(32, 32, 3), np.full((32, 32, 1), 0, np.uint8)], axis=2)
    rgba[:16, :, 3] = 255  # top half opaque, bottom half transparent
    out = pixels(processor, PIL.Image.fromarray(rgba, mode="RGBA"))[0]
    assert torch.equal(out[:, :16], torch.from_numpy(rgba[:16, :, :3]).permute(2, 0, 1).float() / 255)
    assert torch.equal(out[:, 16:], torch.ones(3, 16, 32))
    assert torch.equal(pixels(processor, rgba), out[None])  # an RGBA array is treated like the RGBA image
    assert torch.allclose(pixels(processor, rgba.astype(np.float32) / 255), out[None], atol=1e-6)


def test_resize_and_center_square_crop_match_pil_on_the_cropped_square():
    image = random_uint8(48, 80, 3)  # landscape: the model sees columns 16:64
    processor = MOGENTImageProcessor(size=32)
    expected = PIL.Image.fromarray(image[:, 16:64]).resize((32, 32), PIL.Image.BILINEAR)
    assert torch.equal(pixels(processor, image)[0], torch.from_numpy(np.array(expected)).permute(2, 0, 1) / 255)
    portrait = pixels(processor, image.transpose(1, 0, 2).copy())  # (80,48): rows 16:64
    assert (portrait[0] - pixels(processor, image)[0].transpose(1, 2)).abs().max() <= 1 / 255 + 1e-6  # PIL rounding
    stretched = pixels(MOGENTImageProcessor(size=32, crop="none"), image)[0]
    expected = PIL.Image.fromarray(image).resize((32, 32), PIL.Image.BILINEAR)
    assert torch.equal(stretched, torch.from_numpy(np.array(expected)).permute(2, 0, 1) / 255)
    as_float = pixels(processor, image.astype(np.float32) / 255)  # float images take PIL's "F" path: no rounding
    assert (as_float - pixels(processor, image)).abs().max() <= 1 / 255 + 1e-6
    assert as_float.shape == (1, 3, 32, 32) and 0 <= as_float.min() and as_float.max() <= 1


def test_clevr_crop_gives_what_training_feeds_the_model():
    image = random_uint8(240, 320, 3)
    row = clevr_example_to_row({"image": image.reshape(-1), "mask": np.zeros(11 * 240 * 320, np.uint8)}, 128)
    out = pixels(MOGENTImageProcessor(size=128, crop="clevr"), PIL.Image.fromarray(image))
    assert torch.equal(out[0], torch.from_numpy(np.array(row["image"])).permute(2, 0, 1).float() / 255)


def test_slot_masks_go_back_onto_the_input_pixels_with_minus_one_outside_the_crop():
    processor = MOGENTImageProcessor(size=4)
    labels = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
    slot_masks = torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1).float()[None]  # (1,3,4,4)
    (label_map,) = processor.post_process_segmentation(slot_masks, torch.tensor([[8, 12]]))  # model saw cols 2:10
    assert label_map.shape == (8, 12)
    assert (label_map[:, :2] == -1).all() and (label_map[:, 10:] == -1).all()
    expected = labels.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.equal(label_map[:, 2:10], expected)
    (masks,) = processor.post_process_slot_masks(slot_masks, [(8, 12)])
    assert masks.shape == (3, 8, 12) and (masks[:, :, :2] == 0).all()
    with pytest.raises(ValueError, match=r"slot_masks.*got \(3, 4, 4\)"):
        processor.post_process_slot_masks(slot_masks[0], [(8, 12)])


def test_processor_round_trips_through_auto_image_processor(tmp_path):
    processor = MOGENTImageProcessor(size=128, crop="clevr")
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "MOGENTImageProcessor" and saved["crop"] == "clevr"
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is MOGENTImageProcessor and loaded.to_dict() == processor.to_dict()
    image = random_uint8(240, 320, 3)
    assert torch.equal(pixels(loaded, image), pixels(processor, image))


@pytest.mark.parametrize(
    "images, error, match",
    [
        (np.zeros((2, 5, 8, 8)), ValueError, r"`images` must be an image .* got shape \(2, 5, 8, 8\)"),
        (np.zeros((8, 8, 3, 1, 1)), ValueError, r"got shape \(8, 8, 3, 1, 1\)"),
        ([np.zeros((8, 8, 3)), np.zeros((6, 8, 8))], ValueError, r"`images\[1\]`.*got shape \(6, 8, 8\)"),
        (np.full((8, 8, 3), 2.0), ValueError, r"floats must lie in \[0, 1\], got values in \[2.000, 2.000\]"),
        (np.full((8, 8, 3), 300, np.int64), ValueError, r"integers must lie in 0..255, got values in \[300, 300\]"),
        ([], ValueError, "empty list"),
        ({"image": 1}, TypeError, "got dict"),
        ("missing.png", FileNotFoundError, "no such image file: missing.png"),
    ],
)
def test_bad_images_raise_errors_that_name_what_was_passed(processor, images, error, match):
    with pytest.raises(error, match=match):
        processor(images)


def test_a_file_that_is_not_an_image_and_an_unknown_crop_are_errors(processor, tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        processor(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match=r"`crop` must be one of .* got 'middle'"):
        MOGENTImageProcessor(crop="middle")


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()  # 32 px
    pipe = MOGENTPipeline(model=model, scheduler=MaskGITScheduler(mask_token_id=model.config.mask_token_id))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_pipelines_take_paths_any_size_and_lists_of_tensors_or_arrays(pipe, tmp_path):
    photo = random_uint8(48, 64, 3, seed=1)  # not the model's 32×32, not square
    PIL.Image.fromarray(photo).save(tmp_path / "photo.png")
    reference = pipe.segment(PIL.Image.fromarray(photo))
    assert reference.shape == (1, 32, 32)
    assert torch.equal(pipe.segment(str(tmp_path / "photo.png")), reference)
    assert torch.equal(pipe.segment(tmp_path / "photo.png"), reference)
    batch = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    stacked = pipe.segment(batch)
    assert torch.equal(pipe.segment(list(batch)), stacked)  # a list of tensors (issue 29, item 10)
    assert torch.equal(pipe.segment([image.numpy() for image in batch]), stacked)  # a list of arrays
    out = pipe(images=[PIL.Image.fromarray(photo)] * 2, num_inference_steps=2, output_type="pt")
    assert out.images.shape == (2, 3, 32, 32)
    at_input = pipe.segment([str(tmp_path / "photo.png"), batch[0]], to_input_size=True)
    assert [tuple(labels.shape) for labels in at_input] == [(48, 64), (32, 32)]
    assert (at_input[0][:, :8] == -1).all() and (at_input[0][:, 8:56] >= 0).all()  # the model saw cols 8:56


def test_pipeline_saves_its_processor_and_old_checkpoints_load_with_the_default(pipe, tmp_path):
    pipe.image_processor.crop = "none"
    try:
        pipe.save_pretrained(tmp_path / "new")
    finally:
        pipe.image_processor.crop = "center_square"
    assert json.loads((tmp_path / "new" / "image_processor" / "preprocessor_config.json").read_text())["crop"] == "none"
    assert MOGENTPipeline.from_pretrained(tmp_path / "new").image_processor.crop == "none"
    pipe.save_pretrained(tmp_path / "old")  # a checkpoint from before processors: no image_processor entry
    index = json.loads((tmp_path / "old" / "model_index.json").read_text())
    del index["image_processor"]
    (tmp_path / "old" / "model_index.json").write_text(json.dumps(index))
    old = MOGENTPipeline.from_pretrained(tmp_path / "old")
    assert old.image_processor.to_dict() == MOGENTImageProcessor(size=32).to_dict()
    with pytest.raises(ValueError, match=r"image_processor.*\{'height': 64, 'width': 64\}.*32×32"):
        MOGENTPipeline(model=pipe.model, scheduler=pipe.scheduler, image_processor=MOGENTImageProcessor(size=64))
