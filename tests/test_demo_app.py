"""The demo app (demo/app.py), started as `python app.py` on a free loopback port and driven through
`gradio_client`: every tab answers (segment at the input's size, decoding at the model's resolution), an edit
changes only the edited region, and bad input is a message, not a stack trace."""

import asyncio
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

from mogent_hf.cli import DEFAULT_PIPELINE  # noqa: E402  (the demo's model unless MOGENT_PIPELINE names another)

MODEL_CONFIG = json.loads((DEFAULT_PIPELINE / "model" / "config.json").read_text())
SIZE, NUM_SLOTS = MODEL_CONFIG["image_size"], MODEL_CONFIG["num_slots"]
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
    assert pixels(library_scenes).shape == (SIZE + 4, 4 * (SIZE + 2) + 2, 3)  # 4 scenes in a row, 2-px gaps
    assert status.startswith("build_library: ")
    composed, status = client.predict(3, 4, 0, api_name="/compose")  # the library lives in the session's state
    assert [pixels(item["image"]).shape for item in composed] == [(SIZE, SIZE, 3)] * 3


def test_segment_answers_at_the_input_size_and_leaves_what_the_model_did_not_see_uncoloured(client, tmp_path):
    wide = tmp_path / "wide.png"  # 48×80: the model sees the centred 48×48 square, columns 16:64
    PIL.Image.open(SCENES[1]).resize((80, 48)).save(wide)
    overlay, masks, labels, _ = client.predict(upload(wide), api_name="/segment")
    labels = np.array(labels)
    assert pixels(overlay).shape == (48, 80, 3) and all(pixels(mask["image"]).shape == (48, 80) for mask in masks)
    assert labels.shape == (48, 80) and (labels[:, :16] == -1).all() and (labels[:, 16:64] >= 0).all()
    assert np.array_equal(pixels(overlay)[:, :16], pixels(wide)[:, :16])
    from mogent_hf import load_slot_pipeline

    expected = load_slot_pipeline(DEFAULT_PIPELINE).segment(str(wide), to_input_size=True)[0].numpy()
    assert np.array_equal(labels, expected)  # the pipeline's segment, with its default mask source


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


def test_decoding_shows_its_maskgit_steps_as_progress(client):
    job = client.submit(upload(SCENES[0]), 0.5, 12, 0, api_name="/reconstruct")

    async def every_update():  # the job's updates, in order, as the page receives them
        return [update async for update in job]

    updates = asyncio.run(every_update())
    assert job.result()[2].startswith("reconstruct: ")
    steps = {(unit.index, unit.length) for update in updates for unit in getattr(update, "progress_data", None) or []}
    assert steps and {length for _, length in steps} == {12}  # the page shows "step i / 12"


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


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.slow
def test_headless_chromium_segments_a_random_scene_and_shows_the_overlay(tmp_path):
    """Clicks "Random scene" then "Segment" in headless Chromium and checks the overlay is on screen; the
    screenshot becomes docs/demo_app.png (the README's picture of the app)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install -e '.[dev]'")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
    ):
        options.add_argument(flag)
    options.binary_location = str(CHROMIUM)
    with running_app() as url:
        browser = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
        try:
            browser.get(url)
            wait = WebDriverWait(browser, 120)
            wait.until(expected_conditions.element_to_be_clickable((By.ID, "segment_random"))).click()
            wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#segment_input img")))
            browser.find_element(By.ID, "segment_button").click()
            overlay = wait.until(
                expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#segment_overlay img"))
            )
            wait.until(
                lambda _: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", overlay)
            )
            wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#segment_masks img")))
            scene = browser.find_element(By.CSS_SELECTOR, "#segment_input img")
            natural = browser.execute_script("return arguments[0].naturalWidth", overlay)
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(str(tmp_path / "demo_app.png"))
            boxes = {name: element.rect for name, element in (("scene", scene), ("overlay", overlay))}
        finally:
            browser.quit()
    screenshot = PIL.Image.open(tmp_path / "demo_app.png").convert("RGB")
    assert natural == SIZE and boxes["overlay"]["width"] >= 3 * SIZE  # the 64-px overlay, drawn large
    saturation = {}
    for name, box in boxes.items():
        crop = screenshot.crop((box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]))
        saturation[name] = np.asarray(crop.convert("HSV"))[..., 1].mean() / 255
    assert saturation["overlay"] > 0.3 and saturation["overlay"] > 2 * saturation["scene"], saturation  # slot colours
    screenshot.save(ROOT / "docs" / "demo_app.png")
