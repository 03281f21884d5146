"""The demo app (demo/app.py), started as `python app.py` on a free loopback port and driven through
`gradio_client`: every tab answers at the model's resolution, an edit changes only the edited region, and bad
input is a message, not a stack trace."""

import json
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))
gradio_client = pytest.importorskip("gradio_client", reason="the demo needs gradio: pip install -e '.[demo]'")
from measure_speed import running_app  # noqa: E402

SIZE = json.loads((ROOT / "checkpoints" / "mogent-small-full" / "model" / "config.json").read_text())["image_size"]
NUM_SLOTS = json.loads((ROOT / "checkpoints" / "mogent-small-full" / "model" / "config.json").read_text())["num_slots"]
SCENES = [str(ROOT / "docs" / "examples" / f"scene_{i}.png") for i in (0, 1)]


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield gradio_client.Client(url, verbose=False)


def pixels(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path))


def upload(path):
    return gradio_client.handle_file(str(path))


def test_every_tab_answers_at_the_model_resolution(client):
    scene = pixels(client.predict(5, api_name="/random_scene"))
    assert scene.shape == (SIZE, SIZE, 3) and np.array_equal(scene, pixels(client.predict(5, api_name="/random_scene")))

    overlay, masks, labels, status = client.predict(upload(SCENES[0]), api_name="/segment")
    assert pixels(overlay).shape == (SIZE, SIZE, 3) and status.startswith("segment: ")
    assert len(masks) == NUM_SLOTS and all(pixels(mask["image"]).shape == (SIZE, SIZE) for mask in masks)
    labels = np.array(labels)
    assert labels.shape == (SIZE, SIZE) and 0 <= labels.min() and labels.max() < NUM_SLOTS

    seen, decoded, status = client.predict(upload(SCENES[0]), 0.5, 4, 0, api_name="/reconstruct")
    assert np.array_equal(pixels(seen), pixels(SCENES[0]))  # a 64-px PNG reaches the model unchanged
    assert pixels(decoded).shape == (SIZE, SIZE, 3) and status.startswith("reconstruct: ")

    slots_a, slots_b, after_a, after_b, _ = client.predict(
        upload(SCENES[0]), upload(SCENES[1]), 1, 2, "swap", 4, 0, api_name="/edit"
    )
    assert all(pixels(path).shape == (SIZE, SIZE, 3) for path in (slots_a, slots_b, after_a, after_b))
    *_, removed, nothing, _ = client.predict(
        upload(SCENES[0]), upload(SCENES[1]), 1, 0, "remove", 4, 0, api_name="/edit"
    )
    assert pixels(removed).shape == (SIZE, SIZE, 3) and nothing is None

    library_scenes, status = client.predict(3, [upload(SCENES[1])], 0, api_name="/build_library")  # + state
    assert len(library_scenes) == 4 and status.startswith("build_library: ")
    composed, status = client.predict(3, 4, 0, api_name="/compose")  # the library lives in the session's state
    assert [pixels(item["image"]).shape for item in composed] == [(SIZE, SIZE, 3)] * 3


def token_region(labels: np.ndarray, slot: int) -> torch.Tensor:
    """(H/4, W/4) bool: 4×4 patches holding a pixel of `slot` (the region an edit redraws)."""
    return F.max_pool2d(torch.from_numpy(labels == slot).float()[None, None], 4)[0, 0] > 0


def test_an_edit_changes_only_the_edited_region(client):
    labels = [np.array(client.predict(upload(scene), api_name="/segment")[2]) for scene in SCENES]
    # the smallest slot present in each scene: an object, not the background
    slot_a, slot_b = (min(np.unique(lab), key=lambda k: (lab == k).sum()) for lab in labels)
    before = pixels(client.predict(upload(SCENES[0]), 0.0, 4, 0, api_name="/reconstruct")[1]).astype(int)
    after = pixels(
        client.predict(upload(SCENES[0]), upload(SCENES[1]), int(slot_a), int(slot_b), "swap", 8, 0, api_name="/edit")[
            2
        ]
    ).astype(int)
    region = token_region(labels[0], slot_a) | token_region(labels[1], slot_b)  # old and new object
    near = F.max_pool2d(region.float()[None, None], 5, 1, 2)[0, 0]  # + 2 patches: the DVAE decoder's 3×3 convs
    near = near.repeat_interleave(4, 0).repeat_interleave(4, 1).bool().numpy()
    change = np.abs(after - before).max(axis=2)
    assert 0 < region.sum() < region.numel() and (~near).sum() > 0
    assert change[~near].max() <= 2, change[~near].max()  # GroupNorm's image-wide statistics: ≤ 2/255 elsewhere
    assert change[near].max() >= 20  # the object is redrawn


@pytest.mark.parametrize(
    "api_name, arguments, message",
    [
        ("/segment", ["{text}"], "cannot identify image file"),
        ("/build_library", [0, ["{text}"], 0], "is not an image PIL can read"),
        ("/build_library", [0, [], 0], "the library needs at least one scene"),
        ("/segment", [None], "No image yet"),
    ],
)
def test_bad_input_is_a_message_in_the_page(client, tmp_path, api_name, arguments, message):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    arguments = [upload(text) if arg == "{text}" else [upload(text)] if arg == ["{text}"] else arg for arg in arguments]
    with pytest.raises(Exception, match=message) as error:
        client.predict(*arguments, api_name=api_name)
    assert "Traceback" not in str(error.value)
