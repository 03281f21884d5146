"""The paper's evaluation, for one or more pipelines side by side (MOGENT and SLATE alike):

- Table 2: segmentation of held-out images — FG-ARI, mIoU, FG-mIoU, mBO (argmax of the slot attention) and the
  share of images whose background is split over two or more slots and of those in which two objects share a slot;
  with --mask_sources, also from the decoder's cross-attention or both combined (keys `fg_ari@combined`, ...);
- Table 3: compositional generation — FID and IS of `--num_generated` composed scenes against as many real ones
  (needs `--inception_weights`);
- Figure 8: reconstruction MSE (and LPIPS with `--lpips_weights`) against the mask ratio r;
- Figures 6 and 9 (MOGENT, with --sweep_steps / --sweep_temperatures): FID and IS against the number of decoding
  steps T and against the choice temperature.

    python training/evaluate.py --pipelines runs/mogent runs/slate --synthetic clevr --num_images 256

Prints markdown tables, writes results.json (and the sweep plots as PNG) to --output_dir.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from mogent_hf.pipelines.pipeline_utils import MASK_SOURCES
from tqdm.auto import tqdm
from train import add_data_arguments, build_datasets, require_data_source

from mogent_hf import MaskGITScheduler, MOGENTPipeline, load_slot_pipeline
from mogent_hf.data import collate
from mogent_hf.metrics import background_split_share, segmentation_metrics, shared_label_share
from mogent_hf.metrics.generation import (
    InceptionFeatures,
    fid_from_features,
    inception_score,
    load_torchscript,
    lpips_distance,
    mean_squared_error,
)
from mogent_hf.script_support import (
    ArgumentParser,
    HelpFormatter,
    add_num_threads_argument,
    configure_logging,
    run_command,
    set_num_threads,
    user_errors,
)
from mogent_hf.visualization import line_plot

SEGMENTATION = ("fg_ari", "miou", "fg_miou", "mbo", "background_split", "objects_sharing_a_slot")


def build_parser() -> argparse.ArgumentParser:
    """The command line's options, each with help text and its default shown."""
    parser = ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--pipelines", nargs="+", required=True, help="pipeline directories or Hub ids")
    parser.add_argument("--names", nargs="+", default=None, help="column names (default: the directory names)")
    add_data_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="data stream of the synthetic scenes, and sampling")
    parser.add_argument("--num_images", type=int, default=256, help="held-out images for Table 2 and Figure 8")
    parser.add_argument("--mask_sources", nargs="+", choices=MASK_SOURCES, default=["slot_attention", "combined"],
                        help="Table 2's masks (`segment`'s mask_source): slot_attention gives the keys fg_ari, ...; "
                        "another source S gives fg_ari@S, ...")  # fmt: skip
    parser.add_argument("--decoder_block", type=int, default=None, help="the decoder block the decoder and "
                        "combined sources read (0 = the first, -1 = the last); None: the blocks' mean")  # fmt: skip
    parser.add_argument("--num_generated", type=int, default=1000, help="composed scenes for Table 3 (paper: 40k)")
    parser.add_argument("--composition", choices=("library", "shuffle"), default="library",
                        help="library: k-means concepts of held-out slots; shuffle: slots across images")  # fmt: skip
    parser.add_argument("--inception_weights", default=None, help="inception-2015-12-05.pt: a path or a Hub repo id")
    parser.add_argument("--inception_filename", default="inception-2015-12-05.pt", help="file in the Hub repo")
    parser.add_argument("--lpips_weights", default=None, help="a TorchScript LPIPS network: a path or a Hub repo id")
    parser.add_argument("--lpips_filename", default="lpips.pt", help="file in the Hub repo")
    parser.add_argument("--mask_ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75, 0.95],
                        help="Figure 8: fractions of the tokens masked before decoding from the slots")  # fmt: skip
    parser.add_argument("--num_inference_steps", type=int, default=20, help="MOGENT's parallel decoding steps T")
    parser.add_argument("--sweep_steps", type=int, nargs="*", default=None, help="Figure 6: T values (MOGENT)")
    parser.add_argument("--sweep_temperatures", type=float, nargs="*", default=None,
                        help="Figure 9: choice temperatures (MOGENT)")  # fmt: skip
    parser.add_argument("--batch_size", type=int, default=32, help="images per forward pass")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="the models' dtype")
    parser.add_argument("--output_dir", default="eval-results", help="results.json, tables and plots")
    add_num_threads_argument(parser)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.names is not None and len(args.names) != len(args.pipelines):
        parser.error(f"--names gives {len(args.names)} names for {len(args.pipelines)} pipelines")
    if (args.sweep_steps or args.sweep_temperatures) and args.inception_weights is None:
        parser.error("the sweeps of Figures 6 and 9 are FID/IS curves: they need --inception_weights")
    for ratio in args.mask_ratios:
        if not 0.0 <= ratio <= 1.0:
            parser.error(f"--mask_ratios must lie in [0, 1], got {ratio}")
    return args


def load_pipeline(name_or_path: str, device: str, dtype: torch.dtype):
    """A MOGENT or SLATE pipeline, whichever `model_index.json` names, on `device` in `dtype`."""
    looks_local = Path(name_or_path).is_absolute() or str(name_or_path).startswith((".", "~"))
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise ValueError(f"`--pipelines`: {name_or_path} is not a directory (a saved pipeline or a Hub id)")
    pipe = load_slot_pipeline(name_or_path).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def batches(images: torch.Tensor, batch_size: int):
    return [images[start : start + batch_size] for start in range(0, images.shape[0], batch_size)]


def decode_kwargs(pipe, seed: int, num_inference_steps: int) -> dict:
    kwargs = {"output_type": "pt", "generator": torch.Generator(pipe.device).manual_seed(seed)}
    if isinstance(pipe, MOGENTPipeline):
        kwargs["num_inference_steps"] = num_inference_steps
    return kwargs


def segmentation_keys(mask_sources: list[str]) -> list[str]:
    """Table 2's keys: `SEGMENTATION` for Slot Attention's masks, suffixed `@source` for another source's."""
    return [key if source == "slot_attention" else f"{key}@{source}" for source in mask_sources for key in SEGMENTATION]


@torch.no_grad()
def segmentation(pipe, images: torch.Tensor, masks: torch.Tensor | None, args) -> dict:
    """Table 2 for each of `args.mask_sources` (see `segmentation_keys`)."""
    if masks is None:
        return {}
    results = {}
    for source in args.mask_sources:
        generator = torch.Generator(pipe.device).manual_seed(args.seed)  # SLATE's Gaussian slot initialisation
        decoder_block = None if source == "slot_attention" else args.decoder_block
        labels = [
            pipe.segment(batch.to(pipe.device, pipe.dtype), generator, mask_source=source,
                         decoder_block=decoder_block).cpu()
            for batch in batches(images, args.batch_size)
        ]  # fmt: skip
        labels = torch.cat(labels).numpy()
        scores = segmentation_metrics(labels, masks.numpy())
        scores["background_split"] = background_split_share(labels, masks.numpy())
        scores["objects_sharing_a_slot"] = shared_label_share(labels, masks.numpy())
        suffix = "" if source == "slot_attention" else f"@{source}"
        results.update({f"{key}{suffix}": value for key, value in scores.items()})
    return results


@torch.no_grad()
def reconstruction(pipe, images: torch.Tensor, args, lpips) -> dict:
    """Figure 8: decode each image with a fraction r of its tokens re-masked; MSE (and LPIPS) against the input."""
    results = {}
    for ratio in args.mask_ratios:
        outputs = [
            pipe(images=batch.to(pipe.device, pipe.dtype), mask_ratio=ratio, **decode_kwargs(pipe, args.seed + i,
                 args.num_inference_steps)).images.float().cpu()
            for i, batch in enumerate(batches(images, args.batch_size))
        ]  # fmt: skip
        decoded = torch.cat(outputs)
        results[f"mse@{ratio:g}"] = mean_squared_error(decoded, images)
        if lpips is not None:
            results[f"lpips@{ratio:g}"] = lpips_distance(lpips, decoded, images)
    return results


@torch.no_grad()
def compose(pipe, images: torch.Tensor, args, num_inference_steps: int) -> torch.Tensor:
    """`--num_generated` composed scenes (N,3,H,W) in [0,1]."""
    library = pipe.build_concept_library(images, batch_size=args.batch_size, seed=args.seed) if (
        args.composition == "library") else None  # fmt: skip
    generated, made, index = [], 0, 0
    while made < args.num_generated:
        count = min(args.batch_size, args.num_generated - made)
        kwargs = decode_kwargs(pipe, args.seed + index, num_inference_steps)
        if library is not None:
            output = pipe.compose(count, library=library, **kwargs)
        else:
            start = (index * args.batch_size) % max(images.shape[0] - count, 1)
            output = pipe.compose_by_shuffling(images[start : start + count].to(pipe.device, pipe.dtype), **kwargs)
        generated.append(output.images.float().cpu())
        made, index = made + count, index + 1
    return torch.cat(generated)


@torch.no_grad()
def generation_time(pipe, images: torch.Tensor, args) -> dict:
    """Milliseconds per image to decode one batch from its slots (slot encoding excluded), after a warm-up."""
    batch = images[: args.batch_size].to(pipe.device, pipe.dtype)
    slots = pipe.encode(batch, generator=torch.Generator(pipe.device).manual_seed(args.seed)).slots
    pipe(slots=slots, **decode_kwargs(pipe, args.seed, args.num_inference_steps))
    if pipe.device.type == "cuda":
        torch.cuda.synchronize(pipe.device)
    start = time.perf_counter()
    pipe(slots=slots, **decode_kwargs(pipe, args.seed, args.num_inference_steps))
    if pipe.device.type == "cuda":
        torch.cuda.synchronize(pipe.device)
    return {"generation_ms_per_image": 1000 * (time.perf_counter() - start) / batch.shape[0]}


def generation_scores(generated: torch.Tensor, real_features: np.ndarray, inception: InceptionFeatures) -> dict:
    features, probabilities = inception(generated)
    mean, std = inception_score(probabilities, num_splits=min(10, generated.shape[0]))
    return {"fid": fid_from_features(real_features, features), "is": mean, "is_std": std}


def markdown_table(results: dict[str, dict], keys: list[str], title: str) -> str:
    names = list(results)
    lines = [f"### {title}", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        cells = [f"{results[n][key]:.4f}" if isinstance(results[n].get(key), float) else "–" for n in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    configure_logging()
    set_num_threads(args.num_threads)
    with user_errors():  # unknown pipelines or data: one `error:` line on the command line
        require_data_source(args)
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
        output_dir = Path(args.output_dir)
        names = args.names or [Path(p).name or p for p in args.pipelines]
        pipes = {
            name: load_pipeline(path, args.device, dtype) for name, path in zip(names, args.pipelines, strict=True)
        }
        resolution = next(iter(pipes.values())).model.config.image_size
        args.num_validation_scenes = max(args.num_images, args.num_generated if args.inception_weights else 0)
        args.num_train_scenes = max(args.num_train_scenes, args.num_validation_scenes + 1)
        _, held_out = build_datasets(args, resolution)
        rows = collate([held_out[i] for i in tqdm(range(len(held_out)), desc="loading held-out images")], resolution)
        images, masks = rows["pixel_values"], rows.get("masks")
    eval_images, eval_masks = images[: args.num_images], None if masks is None else masks[: args.num_images]

    inception = lpips = real_features = None
    if args.inception_weights:
        inception = InceptionFeatures(load_torchscript(args.inception_weights, args.inception_filename),
                                      batch_size=args.batch_size, device=args.device)  # fmt: skip
        real_features = inception(images[: args.num_generated])[0]
    if args.lpips_weights:
        lpips = load_torchscript(args.lpips_weights, args.lpips_filename).to(args.device)

    results, sweeps = {}, {}
    for name, pipe in tqdm(pipes.items(), desc="pipelines"):
        start = time.perf_counter()
        result = {"model_type": pipe.model.config.model_type}
        result.update(segmentation(pipe, eval_images, eval_masks, args))
        result.update(reconstruction(pipe, eval_images, args, lpips))
        result.update(generation_time(pipe, eval_images, args))
        if inception is not None:
            generated = compose(pipe, eval_images, args, args.num_inference_steps)
            result.update(generation_scores(generated, real_features, inception))
        if isinstance(pipe, MOGENTPipeline) and inception is not None:
            sweeps[name] = sweep(pipe, eval_images, args, real_features, inception)
        result["seconds"] = time.perf_counter() - start
        results[name] = result

    output_dir.mkdir(parents=True, exist_ok=True)
    tables = [markdown_table(results, segmentation_keys(args.mask_sources), "Table 2: segmentation (held-out images)")]
    reconstruction_keys = [k for k in next(iter(results.values())) if k.startswith(("mse@", "lpips@"))]
    tables.append(markdown_table(results, reconstruction_keys, "Figure 8: reconstruction vs mask ratio"))
    tables.append(markdown_table(results, ["generation_ms_per_image"], f"Decoding time ({args.device}, batch "
                                                                      f"{args.batch_size}, slots given)"))  # fmt: skip
    if inception is not None:
        tables.append(markdown_table(results, ["fid", "is", "is_std"], f"Table 3: composition ({args.composition}, "
                                                                        f"{args.num_generated} images)"))  # fmt: skip
    text = "\n\n".join(tables)
    print(text)
    (output_dir / "tables.md").write_text(text + "\n")
    (output_dir / "results.json").write_text(json.dumps({"args": vars(args), "results": results, "sweeps": sweeps},
                                                        indent=2, default=str))  # fmt: skip
    draw_sweeps(sweeps, output_dir)
    print(f"Results: {(output_dir / 'results.json').resolve()}")
    return results


def sweep(pipe, images: torch.Tensor, args, real_features, inception) -> dict:
    """Figures 6 and 9: FID and IS against T, and against the choice temperature (at T = --num_inference_steps)."""
    curves = {}
    for steps in args.sweep_steps or []:
        curves.setdefault("steps", []).append(
            {"value": steps, **generation_scores(compose(pipe, images, args, steps), real_features, inception)}
        )
    scheduler = pipe.scheduler
    for temperature in args.sweep_temperatures or []:
        pipe.scheduler = MaskGITScheduler.from_config(scheduler.config, choice_temperature=temperature)
        generated = compose(pipe, images, args, args.num_inference_steps)
        curves.setdefault("temperature", []).append(
            {"value": temperature, **generation_scores(generated, real_features, inception)}
        )
    pipe.scheduler = scheduler
    return curves


def draw_sweeps(sweeps: dict, output_dir: Path) -> None:
    labels = {"steps": ("Figure 6", "decoding steps T"), "temperature": ("Figure 9", "choice temperature")}
    for kind, (figure, x_label) in labels.items():
        for metric in ("fid", "is"):
            series = {
                name: ([p["value"] for p in curves[kind]], [p[metric] for p in curves[kind]])
                for name, curves in sweeps.items()
                if kind in curves
            }
            if series:
                plot = line_plot(series, f"{figure}: {metric.upper()} vs {x_label}", x_label, metric.upper())
                plot.save(output_dir / f"{kind}_{metric}.png")


if __name__ == "__main__":
    run_command(main, prog="evaluate.py")
