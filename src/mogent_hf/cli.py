"""`mogent-hf`: a trained MOGENT or SLATE pipeline on your own image files, from the command line (segment,
reconstruct, edit, remove, compose). A thin layer over the pipelines: it finds the files, calls one pipeline
method per file, and writes PNGs (and label maps on request).

Start-up is kept short: torch, transformers and diffusers are imported only after every argument has been checked,
so that `--help` and a mistake answer at once, and nothing is written before the model has loaded."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mogent_hf.script_support import add_num_threads_argument, set_num_threads

DEFAULT_PIPELINE_NAME = "mogent-small-full-iter15"  # the shipped full-scene checkpoint; the one place to change it


def default_pipeline() -> Path:
    """The shipped checkpoint: inside the installed package (a wheel carries it as package data), or in the
    repository's `checkpoints/` (an editable install)."""
    installed = Path(__file__).resolve().parent / "checkpoints" / DEFAULT_PIPELINE_NAME
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "checkpoints" / installed.name


DEFAULT_PIPELINE = default_pipeline()
WHAT_THE_MODEL_KNOWS = (
    "The default model was trained on synthetic CLEVR-like scenes (3-6 shaded spheres, cubes and cylinders on a grey "
    "floor) at 64x64 px. Any picture is accepted; on a photograph its slots give colour-and-position patches, not "
    "objects."
)

EXAMPLES = (
    """examples:
  mogent-hf segment docs/examples/scene_0.png --out out/
      out/scene_0_overlay.png and one mask per slot, out/scene_0_slot0.png ... (K slots)
  mogent-hf segment photos/ --labels npy json --input-size
      also out/<name>_labels.npy and .json: slot index per pixel at each input's size (-1 outside the crop)
  mogent-hf reconstruct scene.png --mask-ratio 0.5 --seed 1       out/scene_reconstruction.png
  mogent-hf edit a.png b.png --swap 1 2       slot 1 of a.png <-> slot 2 of b.png: out/a_edited.png, out/b_edited.png
  mogent-hf remove scene.png --slot 3         out/scene_removed.png (slot 3 replaced by the background slot)
  mogent-hf compose scenes/ --num-images 8    concept library from the slots of scenes/ -> out/composed_0.png ...
  mogent-hf segment scene.png --pipeline org/mogent-clevr      any saved pipeline: a directory or a Hub id

Inputs are image files or folders of them, of any size (centre square crop, resized to the model's resolution).
segment writes its overlay, masks and label maps at each input's size (--model-size: at the model's); the decoding
commands write images at the model's resolution. Errors (a missing file, a non-image, an unknown slot, a value out
of range) exit with status 2 before the model loads.

"""
    + WHAT_THE_MODEL_KNOWS
)


class UsageError(Exception):
    """Bad command-line input: printed as one `error:` line, exit status 2."""


def image_files(inputs: list[str]) -> list[Path]:
    """Files and folders (their images, sorted, not recursive) → image paths; each file is checked to be an image."""
    import PIL.Image

    extensions = {extension for extension in PIL.Image.registered_extensions()}
    paths = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in extensions)
            if not found:
                raise UsageError(f"no image files in folder {path}")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    for path in paths:
        try:
            PIL.Image.open(path).close()  # reads the header only
        except (PIL.UnidentifiedImageError, OSError) as error:
            raise UsageError(f"{path} is not an image file ({error.__class__.__name__})") from None
    return paths


def output_names(paths: list[Path]) -> list[str]:
    """A distinct output stem per input (the file's stem; `stem_2`, `stem_3` ... when names repeat)."""
    names, seen = [], {}
    for path in paths:
        seen[path.stem] = seen.get(path.stem, 0) + 1
        names.append(path.stem if seen[path.stem] == 1 else f"{path.stem}_{seen[path.stem]}")
    return names


def check_pipeline_name(name: str) -> None:
    """A `--pipeline` must be a saved pipeline's folder or a well-formed Hub id (whether the Hub has it is known
    only when it loads)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise UsageError(f"--pipeline {name} is not a saved pipeline (no model_index.json)")
        return
    if path.exists():
        raise UsageError(f"--pipeline {name} is a file: expected a pipeline's folder or a Hub id")
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise UsageError(f"--pipeline {name}: no such folder, and not a Hub id (org/name)") from None
    if name.startswith((".", "~")) or name.count("/") > 1:  # valid as an id, but written as a path
        raise UsageError(f"--pipeline {name}: no such folder")


def load_pipeline(name: str, device: str):
    """A saved MOGENT or SLATE pipeline (directory or Hub id) on `device`, its progress bars off."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from mogent_hf.pipelines import load_slot_pipeline

    for logging in (diffusers_logging, transformers_logging):
        logging.disable_progress_bar()
        logging.set_verbosity_error()
    pipe = load_slot_pipeline(name).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def seeded(pipe, args):
    """A fresh `torch.Generator` per file, so that each file's result depends on `--seed`, not on the files
    before it."""
    import torch

    return torch.Generator(pipe.device).manual_seed(args.seed)


def decode_kwargs(pipe, args) -> dict:
    """Decoding arguments this pipeline takes: the seeded generator, and MaskGIT's steps for MOGENT."""
    from mogent_hf.pipelines import MOGENTPipeline

    kwargs = {"generator": seeded(pipe, args)}
    if isinstance(pipe, MOGENTPipeline):
        kwargs.update(num_inference_steps=args.num_inference_steps, cache_interval=args.cache_interval)
    return kwargs


def save_png(image, path: Path) -> None:
    """A tensor (3,H,W) or (H,W) float in [0,1] → an 8-bit PNG (its folder is made on the first write)."""
    import numpy as np
    import PIL.Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    PIL.Image.fromarray(array.transpose(1, 2, 0) if array.ndim == 3 else array).save(path)


def segment(pipe, paths, names, args) -> list[Path]:
    """Overlay, one mask per slot and label maps, at each input's size (the crop the model saw; -1 and no colour
    outside it) or, with --model-size, at the model's resolution."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from mogent_hf.image_processing_mogent import to_rgb
    from mogent_hf.visualization import overlay_labels

    written, num_slots = [], pipe.model.config.num_slots
    source = args.mask_source or pipe.default_mask_source
    for path, name in zip(tqdm(paths, desc="segment", unit="image"), names):
        features = pipe.image_processor(str(path), return_tensors="pt", return_input_sizes=True)
        encoded = pipe.encode(features.pixel_values, generator=seeded(pipe, args))
        slot_masks = pipe.source_masks(encoded, source).float().cpu()  # (1,K,h,w) at the model's resolution
        if args.model_size:
            image, labels = features.pixel_values[0], slot_masks.argmax(1)[0]
        else:
            rgb = to_rgb(pipe.image_processor.load(path))  # (H,W,3) uint8, as the processor read it
            image = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)  # (3,H,W)
            labels = pipe.image_processor.post_process_segmentation(slot_masks, features.input_sizes)[0]
            slot_masks = pipe.image_processor.post_process_slot_masks(slot_masks, features.input_sizes)[0][None]
        overlay = overlay_labels(image[None], labels[None], num_colours=num_slots)
        files = [(overlay[0], args.out / f"{name}_overlay.png")]
        files += [(slot_masks[0, k], args.out / f"{name}_slot{k}.png") for k in range(num_slots)]
        for picture, file in files:
            save_png(picture, file)
            written.append(file)
        if args.labels:
            written += save_labels(labels.numpy(), args.out / f"{name}_labels", args.labels, path, num_slots)
    return written


def save_labels(labels, stem: Path, formats: list[str], source: Path, num_slots: int) -> list[Path]:
    """A label map, an (H,W) int array (slot per pixel, -1 where the model saw nothing) → stem.npy and/or
    stem.json."""
    import numpy as np

    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if "npy" in formats:
        np.save(stem.with_suffix(".npy"), labels.astype(np.int64))
        written.append(stem.with_suffix(".npy"))
    if "json" in formats:
        record = {"image": str(source), "num_slots": num_slots, "shape": list(labels.shape), "labels": labels.tolist()}
        stem.with_suffix(".json").write_text(json.dumps(record))
        written.append(stem.with_suffix(".json"))
    return written


def reconstruct(pipe, paths, names, args) -> list[Path]:
    from tqdm.auto import tqdm

    written = []
    for path, name in zip(tqdm(paths, desc="reconstruct", unit="image"), names):
        images = pipe(images=str(path), mask_ratio=args.mask_ratio, output_type="pt", **decode_kwargs(pipe, args))
        written.append(args.out / f"{name}_reconstruction.png")
        save_png(images.images[0], written[-1])
    return written


def edit(pipe, paths, names, args) -> list[Path]:
    """`paths` holds the first input's images, then as many of the second's: they are paired in order."""
    from tqdm.auto import tqdm

    half = len(paths) // 2
    swap = [(pipe.check_slot_index(i, "--swap I"), pipe.check_slot_index(j, "--swap J")) for i, j in args.swap]
    written = []
    pairs = list(zip(paths[:half], paths[half:], names[:half], names[half:]))
    for path_a, path_b, name_a, name_b in tqdm(pairs, desc="edit", unit="pair"):
        out = pipe.edit(str(path_a), str(path_b), swap=swap, output_type="pt", **decode_kwargs(pipe, args))
        for image, name in zip(out.images, (name_a, name_b)):
            written.append(args.out / f"{name}_edited.png")
            save_png(image, written[-1])
    return written


def remove(pipe, paths, names, args) -> list[Path]:
    from tqdm.auto import tqdm

    slot = pipe.check_slot_index(args.slot, "--slot")
    background = (
        None if args.background_slot is None else pipe.check_slot_index(args.background_slot, "--background-slot")
    )
    written = []
    for path, name in zip(tqdm(paths, desc="remove", unit="image"), names):
        out = pipe.remove(str(path), slot, background_slot=background, output_type="pt", **decode_kwargs(pipe, args))
        written.append(args.out / f"{name}_removed.png")
        save_png(out.images[0], written[-1])
    return written


def compose(pipe, paths, names, args) -> list[Path]:
    """Slots of every input → a concept library (k-means) → `--num-images` new scenes."""
    from tqdm.auto import tqdm

    files = (str(path) for path in tqdm(paths, desc="compose: slots", unit="image"))  # one batch per file
    library = pipe.build_concept_library(files, num_concepts=args.num_concepts, seed=args.seed)
    out = pipe.compose(args.num_images, library, output_type="pt", **decode_kwargs(pipe, args))
    written = []
    for index, image in enumerate(out.images):
        written.append(args.out / f"composed_{index}.png")
        save_png(image, written[-1])
    if args.save_library:
        args.save_library.parent.mkdir(parents=True, exist_ok=True)
        library.save(str(args.save_library))
        written.append(args.save_library)
    return written


def check_arguments(args) -> None:
    """Every value a command line can get wrong, checked before anything loads: ranges, and slot indices against
    the pipeline's `num_slots` where the pipeline is a local folder (a Hub pipeline's once it has loaded)."""
    for name in ("num_inference_steps", "cache_interval", "num_images", "num_concepts"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    mask_ratio = getattr(args, "mask_ratio", None)
    if mask_ratio is not None and not 0 <= mask_ratio <= 1:
        raise UsageError(f"--mask-ratio must be in [0, 1], got {args.mask_ratio}")
    config_file = Path(args.pipeline).expanduser() / "model" / "config.json"
    num_slots = json.loads(config_file.read_text()).get("num_slots") if config_file.is_file() else None
    slots = [("--slot", getattr(args, "slot", None)), ("--background-slot", getattr(args, "background_slot", None))]
    slots += [(flag, index) for pair in getattr(args, "swap", None) or [] for flag, index in zip(("--swap I",
              "--swap J"), pair)]  # fmt: skip
    for flag, index in slots:
        if index is not None and (index < 0 or (num_slots is not None and index >= num_slots)):
            bound = f"[0, {num_slots})" if num_slots is not None else ">= 0"
            raise UsageError(f"`{flag}` must be a slot index in {bound}, got {index}")


COMMANDS = {
    "segment": (segment, "slot masks: an overlay, one mask per slot, optional label maps"),
    "reconstruct": (reconstruct, "re-mask a share of each image's tokens and decode them from its slots"),
    "edit": (edit, "swap objects (slots) between two images and redraw both"),
    "remove": (remove, "replace one slot by the background slot and redraw the object's region"),
    "compose": (compose, "build a concept library from the inputs' slots and sample new scenes"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mogent-hf",
        description="Run a MOGENT or SLATE pipeline on your own images.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        if name == "edit":
            sub.add_argument("inputs", nargs=2, metavar="IMAGES", help="two image files (or two folders, paired)")
            sub.add_argument("--swap", nargs=2, type=int, action="append", required=True, metavar=("I", "J"),
                             help="swap slot I of the first image with slot J of the second (repeatable)")  # fmt: skip
        else:
            sub.add_argument("inputs", nargs="+", metavar="IMAGES", help="image files or folders of images")
        sub.add_argument("--pipeline", default=str(DEFAULT_PIPELINE),
                         help="a saved pipeline, a directory or a Hub id (default: %(default)s)")  # fmt: skip
        sub.add_argument("--out", type=Path, default=Path("mogent-hf-outputs"), help="output folder (%(default)s)")
        sub.add_argument("--seed", type=int, default=0, help="seed of every random draw (%(default)s)")
        sub.add_argument("--device", default="cpu", help="torch device (%(default)s)")
        add_num_threads_argument(sub, flag="--num-threads")
        if name != "segment":
            sub.add_argument("--num-inference-steps", type=int, default=12,
                             help="MaskGIT decoding steps T (MOGENT only; %(default)s: with --cache-interval 4 the "
                             "fast setting, within +2%% MSE of the paper's T = 20 and about 3x faster; "
                             "docs/benchmarks.md)")  # fmt: skip
            sub.add_argument("--cache-interval", type=int, default=4,
                             help="a full decoder pass every N steps, cached sub-steps between (MOGENT only; "
                             "%(default)s; 1 with --num-inference-steps 20: the paper's decoding)")  # fmt: skip
        if name == "segment":
            sub.add_argument("--labels", nargs="+", choices=("npy", "json"), default=[],
                             help="also write label maps (slot index per pixel) as .npy and/or .json")  # fmt: skip
            sub.add_argument("--mask-source", choices=("slot_attention", "decoder", "combined"), default=None,
                             help="where the masks come from (default: the pipeline's; MOGENT: combined, Slot "
                             "Attention's and the decoder's attention averaged)")  # fmt: skip
            size = sub.add_mutually_exclusive_group()
            size.add_argument("--model-size", action="store_true",
                              help="write everything at the model's resolution, not each input's size")  # fmt: skip
            size.add_argument("--input-size", dest="model_size", action="store_false",
                              help="write everything at each input's size (the default; -1 and no colour outside "
                              "the crop the model saw)")  # fmt: skip
        if name == "reconstruct":
            sub.add_argument("--mask-ratio", type=float, default=0.5,
                             help="share of tokens re-masked and decoded, in [0, 1] (%(default)s)")  # fmt: skip
        if name == "remove":
            sub.add_argument("--slot", type=int, required=True, help="the slot to remove")
            sub.add_argument("--background-slot", type=int, default=None,
                             help="the slot that replaces it (default: each image's largest slot)")  # fmt: skip
        if name == "compose":
            sub.add_argument("--num-images", type=int, default=4, help="scenes to sample (%(default)s)")
            sub.add_argument("--num-concepts", type=int, default=None,
                             help="k-means concepts (default: the number of slots)")  # fmt: skip
            sub.add_argument("--save-library", type=Path, default=None, help="also save the library (.safetensors)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "edit":
            first, second = image_files(args.inputs[:1]), image_files(args.inputs[1:])
            if len(first) != len(second):
                raise UsageError(f"edit pairs the images of its two inputs: got {len(first)} and {len(second)}")
            paths = first + second
        else:
            paths = image_files(args.inputs)
        check_pipeline_name(args.pipeline)
        check_arguments(args)
        if args.out.exists() and not args.out.is_dir():
            raise UsageError(f"--out {args.out} is a file: expected a folder")
        set_num_threads(args.num_threads)
        pipe = load_pipeline(args.pipeline, args.device)
        written = COMMANDS[args.command][0](pipe, paths, output_names(paths), args)
    except (UsageError, ValueError, OSError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"{len(written)} files written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
