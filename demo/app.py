"""MOGENT demo (Gradio, in the Hugging Face Spaces layout): segment, reconstruct, edit and compose scenes with the
shipped checkpoint, on CPU. `python demo/app.py` serves it on http://127.0.0.1:7860 (GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT change that; MOGENT_PIPELINE names another saved pipeline, a directory or a Hub id).

Every action is a method of `SceneActions` (numpy images in, numpy images out, plus a status line with the time it
took); `build_demo` wires them to four tabs. Overlays and slot masks come at the input's size; decoded images at the
model's resolution. The page shows 64-px images 4× larger (CSS, nearest neighbour). `--num_threads` sets torch's
threads (default 1: docs/benchmarks.md has the measurements)."""

from __future__ import annotations

import argparse
import inspect
import os
import time

import gradio as gr
import numpy as np
import torch

from mogent_hf import MOGENTPipeline, load_slot_pipeline
from mogent_hf.cli import DEFAULT_PIPELINE, WHAT_THE_MODEL_KNOWS
from mogent_hf.data import SyntheticScenes
from mogent_hf.image_processing_mogent import to_rgb
from mogent_hf.script_support import add_num_threads_argument, set_num_threads
from mogent_hf.visualization import image_grid, overlay_labels, slot_palette

PIPELINE = os.environ.get("MOGENT_PIPELINE", str(DEFAULT_PIPELINE))
SCENES = dict(min_objects=3, max_objects=6)  # the scenes the shipped full-scene checkpoint was trained on
FAST_CACHE_INTERVAL = 4  # with 12 steps: within +2% MSE of the paper's T = 20, about 3x faster (docs/benchmarks.md)
NUM_SCENES = 1_000_000  # random scenes are drawn from the held-out ("test") stream, scene 0 .. NUM_SCENES - 1
CSS = """
.pixelated img { image-rendering: pixelated; min-width: 192px; min-height: 192px; object-fit: contain; }
.pixelated .thumbnail-item img { min-width: 0; min-height: 0; }
"""


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """(B,3,H,W) or (B,H,W) float in [0,1] → a list of (H,W,3) / (H,W) uint8 arrays."""
    array = (images.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return list(array.transpose(0, 2, 3, 1) if array.ndim == 4 else array)


class SceneActions:
    """The demo's actions on a MOGENT (or SLATE) pipeline. Images: anything `MOGENTImageProcessor` takes."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.num_slots = pipe.model.config.num_slots
        self.scenes = SyntheticScenes("clevr", NUM_SCENES, pipe.model.config.image_size, split="test", **SCENES)

    def decoding(self, steps: int, seed: int) -> dict:
        kwargs = {"generator": torch.Generator().manual_seed(int(seed)), "output_type": "pt"}
        if isinstance(self.pipe, MOGENTPipeline):  # the fast setting: cached sub-steps (docs/benchmarks.md)
            kwargs.update(num_inference_steps=int(steps), cache_interval=FAST_CACHE_INTERVAL)
        return kwargs

    def scene(self, index: int | None = None) -> np.ndarray:
        """A synthetic scene (H,W,3) uint8 at the model's resolution: scene `index`, or a random one."""
        index = int(np.random.default_rng().integers(NUM_SCENES)) if index is None or index < 0 else int(index)
        return self.scenes[index % NUM_SCENES]["image"]

    def overlay(self, image) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image (H,W) → (overlay (H,W,3) uint8, pixel values (1,3,h,w) at the model's resolution, slot masks
        (K,H,W) and label map (H,W), -1 and no colour outside the centre square the model saw)."""
        processor = self.pipe.image_processor
        features = processor(image, return_tensors="pt", return_input_sizes=True)
        encoded = self.pipe.encode(features.pixel_values)
        slot_masks = self.pipe.source_masks(encoded, self.pipe.default_mask_source).float().cpu()  # (1,K,h,w)
        masks = processor.post_process_slot_masks(slot_masks, features.input_sizes)[0]
        labels = processor.post_process_segmentation(slot_masks, features.input_sizes)[0]
        rgb = to_rgb(processor.split_images(image)[0])  # (H,W,3), uint8 or float in [0,1]
        picture = torch.from_numpy(rgb.astype(np.float32) / (255 if rgb.dtype == np.uint8 else 1)).permute(2, 0, 1)
        overlay = overlay_labels(picture[None], labels[None], num_colours=self.num_slots)
        return to_uint8(overlay)[0], features.pixel_values, masks, labels

    def slots(self, image) -> np.ndarray | None:
        """→ the overlay (H,W,3) of the image's slots (to pick slots by colour); None for no image."""
        return None if image is None else self.overlay(image)[0]

    def segment(self, image) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
        """→ overlay (H,W,3), one (H,W) mask per slot (its attention, 0..255), label map (H,W) as lists, all at the
        input's size."""
        overlay, _, masks, labels = self.overlay(image)
        return overlay, to_uint8(masks), labels.tolist()

    def reconstruct(self, image, mask_ratio: float, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """→ what the model sees (H,W,3) and the decoded image (H,W,3), with `mask_ratio` of the tokens redrawn."""
        pixel_values = self.pipe.image_processor(image, return_tensors="pt").pixel_values
        decoded = self.pipe(images=pixel_values, mask_ratio=float(mask_ratio), **self.decoding(steps, seed)).images
        return to_uint8(pixel_values)[0], to_uint8(decoded)[0]

    def edit(self, image_a, image_b, slot_a: int, slot_b: int, operation: str, steps: int, seed: int):
        """Swap slot `slot_a` of A with `slot_b` of B, or remove `slot_a` from A → (overlay A, overlay B, A edited,
        B edited or None)."""
        overlay_a, pixels_a, *_ = self.overlay(image_a)
        overlay_b, pixels_b, *_ = self.overlay(image_b)
        slot_a, slot_b = int(slot_a), int(slot_b)
        if operation == "remove":
            removed = self.pipe.remove(
                pixels_a, self.pipe.check_slot_index(slot_a, "slot of A"), **self.decoding(steps, seed)
            )
            return overlay_a, overlay_b, to_uint8(removed.images)[0], None
        swap = [(self.pipe.check_slot_index(slot_a, "slot of A"), self.pipe.check_slot_index(slot_b, "slot of B"))]
        edited = to_uint8(self.pipe.edit(pixels_a, pixels_b, swap=swap, **self.decoding(steps, seed)).images)
        return overlay_a, overlay_b, edited[0], edited[1]

    def build_library(self, num_scenes: int, files: list[str] | None, seed: int):
        """A concept library from `num_scenes` random scenes (of seed `seed`) and the uploaded image files →
        (library, one sheet (rows of up to 8 scenes, 2-px white gaps) of the scenes as the model sees them)."""
        rng = np.random.default_rng(int(seed))
        images = [self.scenes[int(index)]["image"] for index in rng.integers(NUM_SCENES, size=int(num_scenes))]
        images += list(files or [])
        if not images:
            raise ValueError("the library needs at least one scene: draw some or upload images")
        seen = list(self.pipe.image_processor(images, return_tensors="pt").pixel_values)
        columns = min(len(seen), 8)
        seen += [torch.ones_like(seen[0])] * (-len(seen) % columns)  # white cells fill the last row
        sheet = image_grid([torch.stack(seen[column::columns]) for column in range(columns)])
        return self.pipe.build_concept_library(images, seed=int(seed)), np.asarray(sheet)

    def sample(self, library, num_images: int, steps: int, seed: int) -> list[np.ndarray]:
        """`num_images` new scenes (H,W,3), each from one slot of K distinct concepts of `library`."""
        if library is None:
            raise ValueError("build a concept library first")
        return to_uint8(self.pipe.compose(int(num_images), library, **self.decoding(steps, seed)).images)


def in_page(action, num_images: int = 1):
    """`action` as a Gradio event: its outputs plus a status line with its time; progress from the pipeline's tqdm
    bar (MaskGIT steps) in the page; bad input (or a missing one among the first `num_images` arguments) becomes
    a message in the page (`gr.Error`), not a stack trace."""

    def run(*args):
        inputs = args[:-1]  # the last argument is the Progress tracker that Gradio inserts (see __signature__)
        if any(arg is None for arg in inputs[:num_images]):
            raise gr.Error("No image yet: upload one or draw a random scene.")
        start = time.perf_counter()
        try:
            outputs = action(*inputs)
        except (ValueError, TypeError, OSError) as error:
            raise gr.Error(str(error).splitlines()[0]) from None
        status = f"{action.__name__}: {time.perf_counter() - start:.2f} s"
        return (*outputs, status) if isinstance(outputs, tuple) else (outputs, status)

    progress = inspect.Parameter(
        "progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress(track_tqdm=True)
    )
    run.__signature__ = inspect.signature(action).replace(
        parameters=[*inspect.signature(action).parameters.values(), progress]
    )
    run.__name__ = action.__name__
    return run


def slot_legend(num_slots: int) -> str:
    colours = (slot_palette(num_slots) * 255).round().int().tolist()
    swatches = [
        f"<span style='color: rgb({r},{g},{b})'>&#9632;</span>&nbsp;slot {k}" for k, (r, g, b) in enumerate(colours)
    ]
    return "Slot colours: " + " &nbsp; ".join(swatches)


def image_box(label: str, elem_id: str, interactive: bool = True) -> gr.Image:
    return gr.Image(
        label=label,
        type="pil",
        image_mode=None,
        format="png",
        elem_id=elem_id,
        elem_classes="pixelated",
        interactive=interactive,
    )


def build_demo(actions: SceneActions) -> gr.Blocks:
    num_slots = actions.num_slots
    steps = dict(minimum=1, maximum=32, value=12, step=1, label="MaskGIT steps (the paper: 20)")
    slots = list(range(num_slots))
    with gr.Blocks(title="MOGENT: object-centric scenes") as demo:
        gr.Markdown(
            "# MOGENT: objects in, objects out\nSegment a scene into slots, redraw it from its slots, swap "
            "or remove objects, and compose new scenes. Upload a picture (any size: the centre square is "
            "used) or draw a synthetic scene.\n\n" + WHAT_THE_MODEL_KNOWS
        )
        gr.HTML(slot_legend(num_slots))
        random_index = gr.Number(value=-1, visible=False, precision=0)

        def scene_button(target: gr.Image, elem_id: str, api_name: str) -> None:
            gr.Button("Random scene", elem_id=elem_id).click(
                lambda index: actions.scene(index), random_index, target, api_name=api_name, concurrency_id="model"
            )

        with gr.Tab("Segment"):
            with gr.Row():
                segment_input = image_box("Scene", "segment_input")
                overlay = image_box("Slots", "segment_overlay", interactive=False)
            with gr.Row():
                scene_button(segment_input, "segment_random", "random_scene")
                segment_button = gr.Button("Segment", variant="primary", elem_id="segment_button")
            segment_status = gr.Markdown(elem_id="segment_status")
            masks = gr.Gallery(
                label="Each slot's attention",
                columns=num_slots,
                format="png",
                elem_id="segment_masks",
                elem_classes="pixelated",
                height=170,
                allow_preview=False,
            )
            labels = gr.JSON(visible=False)
            segment_button.click(
                in_page(actions.segment),
                segment_input,
                [overlay, masks, labels, segment_status],
                api_name="segment",
                concurrency_id="model",
            )

        with gr.Tab("Reconstruct"):
            with gr.Row():
                recon_input = image_box("Scene", "reconstruct_input")
                seen = image_box("What the model sees", "reconstruct_seen", interactive=False)
                decoded = image_box("Decoded", "reconstruct_output", interactive=False)
            mask_ratio = gr.Slider(0, 1, value=0.5, step=0.05, label="Mask ratio (share of tokens redrawn)")
            with gr.Row():
                recon_steps, recon_seed = gr.Slider(**steps), gr.Number(value=0, precision=0, label="Seed")
            with gr.Row():
                scene_button(recon_input, "reconstruct_random", False)
                recon_button = gr.Button("Reconstruct", variant="primary", elem_id="reconstruct_button")
            recon_status = gr.Markdown()
            recon_button.click(
                in_page(actions.reconstruct),
                [recon_input, mask_ratio, recon_steps, recon_seed],
                [seen, decoded, recon_status],
                api_name="reconstruct",
                concurrency_id="model",
            )

        with gr.Tab("Edit"):
            with gr.Row():
                edit_a, edit_b = image_box("Scene A", "edit_a"), image_box("Scene B", "edit_b")
                slots_a = image_box("Slots of A", "edit_slots_a", interactive=False)
                slots_b = image_box("Slots of B", "edit_slots_b", interactive=False)
            with gr.Row():
                scene_button(edit_a, "edit_random_a", False)
                scene_button(edit_b, "edit_random_b", False)
            with gr.Row():
                operation = gr.Radio(
                    ["swap", "remove"], value="swap", label="Swap slot of A with slot of B, or remove slot of A"
                )
                slot_a = gr.Dropdown(slots, value=0, label="Slot of A")
                slot_b = gr.Dropdown(slots, value=0, label="Slot of B")
            with gr.Row():
                edit_steps, edit_seed = gr.Slider(**steps), gr.Number(value=0, precision=0, label="Seed")
            edit_button = gr.Button("Edit", variant="primary", elem_id="edit_button")
            with gr.Row():
                after_a = image_box("A edited", "edit_after_a", interactive=False)
                after_b = image_box("B edited", "edit_after_b", interactive=False)
            edit_status = gr.Markdown()
            for scene, its_slots in ((edit_a, slots_a), (edit_b, slots_b)):
                scene.change(in_page(actions.slots, num_images=0), scene, [its_slots, edit_status], api_name=False,
                             concurrency_id="model")  # fmt: skip
            edit_button.click(
                in_page(actions.edit, num_images=2),
                [edit_a, edit_b, slot_a, slot_b, operation, edit_steps, edit_seed],
                [slots_a, slots_b, after_a, after_b, edit_status],
                api_name="edit",
                concurrency_id="model",
            )

        with gr.Tab("Compose"):
            library = gr.State(None)
            with gr.Row():
                num_scenes = gr.Slider(0, 64, value=16, step=1, label="Random scenes in the library")
                uploads = gr.File(label="Your scenes (optional)", file_count="multiple", type="filepath")
                library_seed = gr.Number(value=0, precision=0, label="Seed")
            library_button = gr.Button("Build concept library", elem_id="library_button")
            library_scenes = gr.Image(label="Library scenes", format="png", interactive=False, elem_id="library")
            with gr.Row():
                num_images = gr.Slider(1, 8, value=4, step=1, label="New scenes")
                compose_steps, compose_seed = gr.Slider(**steps), gr.Number(value=0, precision=0, label="Seed")
            compose_button = gr.Button("Sample new scenes", variant="primary", elem_id="compose_button")
            composed = gr.Gallery(label="New scenes", columns=8, format="png", elem_classes="pixelated", height=180)
            compose_status = gr.Markdown()
            library_button.click(
                in_page(actions.build_library, num_images=0),
                [num_scenes, uploads, library_seed],
                [library, library_scenes, compose_status],
                api_name="build_library",
                concurrency_id="model",
            )
            compose_button.click(
                in_page(actions.sample, num_images=0),
                [library, num_images, compose_steps, compose_seed],
                [composed, compose_status],
                api_name="compose",
                concurrency_id="model",
            )
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_num_threads_argument(parser)
    # One thread by default: the 64-px model gains little from more, and on a shared CPU (a Space) two threads
    # made each action many times slower (docs/benchmarks.md, "Threads").
    parser.set_defaults(num_threads=1)
    set_num_threads(parser.parse_args(argv).num_threads)
    pipe = load_slot_pipeline(PIPELINE)
    pipe.set_progress_bar_config(leave=False)
    build_demo(SceneActions(pipe)).queue().launch(show_error=True, css=CSS)


if __name__ == "__main__":
    main()
