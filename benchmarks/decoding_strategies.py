"""MOGENT's decoding strategies against T = 20 and SLATE: one quality–speed table.

Strategies (`STRATEGIES`): the paper's T = 20 cosine confidence decoding; fewer steps (T = 12, 8); cached sub-steps
(`cache_interval` k: a full pass every k steps, between them only the tokens the k steps unmask run, against cached
keys/values — ReCAP); the Halton order (`unmasking_order="halton"`), alone and with cached sub-steps; confidence
thresholds with the T = 20 schedule as the cap (`confidence_threshold`, images leave the batch when done).

Speed: ms per image decoding from slots to pixels (slot encoding excluded), random weights at the `3dshapes` (64 px)
and `clevr` (128 px) presets of Table 6 and the shipped model's own size (its trained weights: a threshold's early
exit depends on them). SLATE-KV is the same-size autoregressive decoder with its KV cache, SLATE-uncached the
official loop (batch 1 only: minutes per call beyond). The decoders of a case run in one fresh process, interleaved:
round r runs every mode in order, then in the reverse order (ABBA, as `paired_ratio.py`), so that the drift of a
shared machine falls on all alike; each round gives each mode's ratio to SLATE-KV, and the table shows the median
ms and the median of those ratios. Random weights never reach a confidence threshold, so at the presets the
threshold rows time the bookkeeping only; their speed is the shipped model's row.

Quality on the shipped model (`checkpoints/mogent-small-full-iter15`) on held-out synthetic full scenes (the test
split of `training/evaluate.py`'s scenes, 3–6 objects): MSE of the image decoded from the image's slots against the
input, and the share of tokens equal to T = 20's decode with the same seed; mean over seeds, with the spread
(standard deviation and min–max of the per-seed means).

    python benchmarks/decoding_strategies.py                        # the docs/benchmarks.md table
    python benchmarks/decoding_strategies.py --quick                # smoke run: 16 px tiny model, seconds
    python benchmarks/decoding_strategies.py --skip_speed --seeds 10 --num_scenes 128    # quality alone
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from generation import (
    DTYPES,
    device_name,
    in_fresh_process,
    make_pipeline,
    matmul_peak,
    save_results,
    sdpa_flops,
    synchronize,
)
from torch.utils.flop_counter import FlopCounterMode

from mogent_hf import MaskGITScheduler, SLATEConfig, SLATEModel, load_slot_pipeline, pipeline_for_model
from mogent_hf.data import SyntheticScenes, collate
from mogent_hf.precision import emulation_warning, has_native_precision
from mogent_hf.visualization import line_plot

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "mogent-small-full-iter15"
# name → scheduler config overrides and pipeline call arguments
STRATEGIES = {
    "T20": ({}, {}),
    "T12": ({}, {"num_inference_steps": 12}),
    "T8": ({}, {"num_inference_steps": 8}),
    "cached_k2": ({}, {"cache_interval": 2}),
    "cached_k3": ({}, {"cache_interval": 3}),
    "cached_k4": ({}, {"cache_interval": 4}),
    "cached_k5": ({}, {"cache_interval": 5}),
    "cached_k6": ({}, {"cache_interval": 6}),
    "T16_cached_k4": ({}, {"num_inference_steps": 16, "cache_interval": 4}),
    "T16_cached_k5": ({}, {"num_inference_steps": 16, "cache_interval": 5}),
    "T12_cached_k3": ({}, {"num_inference_steps": 12, "cache_interval": 3}),
    "T12_cached_k4": ({}, {"num_inference_steps": 12, "cache_interval": 4}),
    "T10_cached_k4": ({}, {"num_inference_steps": 10, "cache_interval": 4}),
    "T8_cached_k2": ({}, {"num_inference_steps": 8, "cache_interval": 2}),
    "halton": ({"unmasking_order": "halton"}, {}),
    "halton_cached_k3": ({"unmasking_order": "halton"}, {"cache_interval": 3}),
    "threshold_0.9": ({"confidence_threshold": 0.9}, {}),
    "threshold_0.7": ({"confidence_threshold": 0.7}, {}),
    "threshold_0.9_T12": ({"confidence_threshold": 0.9}, {"num_inference_steps": 12}),
    "threshold_0.9_T8": ({"confidence_threshold": 0.9}, {"num_inference_steps": 8}),
}
# timed by default (the others are variations, scored for quality)
SPEED_STRATEGIES = ("T20", "T12", "T8", "cached_k4", "T12_cached_k4", "T10_cached_k4", "halton", "halton_cached_k3",
                    "threshold_0.9")  # fmt: skip
SLATE_MODES = ("slate_kv", "slate_uncached")
# (model, resolution, batch); "shipped" is the shipped model's size with its weights
SPEED_CASES = [("3dshapes", 64, b) for b in (1, 8, 32, 64)] + [("clevr", 128, b) for b in (1, 32)]
SPEED_CASES += [("shipped", 64, b) for b in (1, 32)]
QUICK_CASES = [("tiny", 16, 2)]


def with_strategy(pipe, name: str):
    """`pipe` with the scheduler of strategy `name` (a fresh scheduler on the pipeline's config) → its call kwargs."""
    scheduler_config, call_kwargs = STRATEGIES[name]
    scheduler_config = {"unmasking_order": "confidence", "confidence_threshold": None, **scheduler_config}
    pipe.scheduler = MaskGITScheduler.from_config(pipe.scheduler.config, **scheduler_config)
    return call_kwargs


def slate_like(mogent_config, resolution: int):
    """A randomly initialised SLATE pipeline with the decoder size of a MOGENT config (the shipped model's)."""
    torch.manual_seed(0)
    fields = ("vocab_size", "num_slots", "slot_size", "slot_mlp_size", "num_decoder_layers", "num_heads", "d_model",
              "mlp_hidden_size", "dvae_hidden_size", "num_slot_iterations")  # fmt: skip
    config = SLATEConfig.from_preset("small", image_size=resolution, **{k: getattr(mogent_config, k) for k in fields})
    pipe = pipeline_for_model(SLATEModel(config).eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_shipped(path: str | Path = SHIPPED, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    pipe = load_slot_pipeline(str(path)).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    pipe.model.eval()
    return pipe


def case_pipelines(model: str, resolution: int, dtype: torch.dtype, shipped: str | Path, device: str = "cpu"):
    """(MOGENT pipeline, SLATE pipeline) of a speed case: a preset's random weights, or the shipped model."""
    device = torch.device(device)
    if model == "shipped":
        mogent = load_shipped(shipped, dtype, device)
        return mogent, slate_like(mogent.model.config, resolution).to(device, dtype)
    mogent = make_pipeline("mogent", model, resolution, dtype, device)
    return mogent, make_pipeline("slate", model, resolution, dtype, device)


def decode_call(mode: str, mogent, slate, slots: dict):
    """The timed call of `mode` (a strategy name or a SLATE mode): decode from the case's slots to pixels."""
    if mode in SLATE_MODES:
        return lambda: slate(slots=slots["slate"], use_cache=mode == "slate_kv", output_type="pt")
    generator = [torch.Generator(slots["mogent"].device).manual_seed(i) for i in range(len(slots["mogent"]))]

    def call():
        kwargs = with_strategy(mogent, mode)
        return mogent(slots=slots["mogent"], generator=[g.manual_seed(i) for i, g in enumerate(generator)],
                      output_type="pt", **kwargs)  # fmt: skip

    return call


def counted_flops(call) -> int:
    """FLOPs of `call()` by torch's FlopCounterMode, CPU flash attention included (`generation.sdpa_flops`)."""
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        call()
    return counter.get_total_flops()


def timed(call, device: torch.device | str = "cpu") -> float:
    device = torch.device(device)
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - start


def measure_case(
    case: tuple, modes: list[str], rounds: int, precision: str, threads: int, shipped: str, device: str = "cpu"
) -> dict:
    """Times one (model, resolution, batch) case in this process: every mode warmed up (on two of the images), then
    `rounds` rounds in alternating order; uncached SLATE (batch 1 only) once, after a warm-up when that took under
    10 s."""
    torch.set_num_threads(threads)
    model, resolution, batch = case
    mogent, slate = case_pipelines(model, resolution, DTYPES[precision], shipped, device)
    images = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    images = images.to(device, DTYPES[precision])
    slots = {name: pipe.model.encode(images, generator=torch.Generator(device).manual_seed(0)).slots
             for name, pipe in (("mogent", mogent), ("slate", slate))}  # fmt: skip
    calls = {mode: decode_call(mode, mogent, slate, slots) for mode in modes if mode != "slate_uncached"}
    first_two = {name: value[:2] for name, value in slots.items()}
    with torch.no_grad():
        num_tokens = mogent.model.config.num_tokens
        blank = torch.zeros(len(images[:2]), num_tokens, dtype=torch.long, device=images.device)
        dvae_flops = counted_flops(lambda: mogent.model.decode_tokens(blank))
    gflop = {}
    for mode in calls:  # warm-up on two images (the same kernels, a fraction of a large batch's time), counting FLOPs
        gflop[mode] = (counted_flops(decode_call(mode, mogent, slate, first_two)) - dvae_flops) / (
            len(images[:2]) * 1e9
        )
    seconds = {mode: [] for mode in calls}
    order = list(calls)
    for index in range(rounds * (3 if batch == 1 else 1)):  # batch 1: short calls, three times the rounds
        for mode in order if index % 2 == 0 else order[::-1]:
            seconds[mode].append(timed(calls[mode], images.device) / batch)
    row = {"model": model, "resolution": resolution, "batch": batch, "precision": precision, "threads": threads,
           "ms_per_image": {mode: [1e3 * s for s in times] for mode, times in seconds.items()},
           "decoder_gflop_per_image": gflop}  # fmt: skip
    if "slate_kv" in seconds:
        row["speedup_over_slate_kv"] = {mode: statistics.median(kv / s for kv, s in zip(seconds["slate_kv"], times))
                                        for mode, times in seconds.items()}  # fmt: skip
    if "slate_uncached" in modes and batch == 1:
        uncached = decode_call("slate_uncached", mogent, slate, slots)
        first = timed(uncached, images.device)
        row["ms_per_image"]["slate_uncached"] = [1e3 * (timed(uncached, images.device) if first < 10 else first)]
    print(format_case(row), flush=True)
    return row


def format_case(row: dict) -> str:
    cells = []
    for mode, times in row["ms_per_image"].items():
        ratio = row.get("speedup_over_slate_kv", {}).get(mode)
        cells.append(f"{mode} {statistics.median(times):.1f} ms" + (f" ({ratio:.2f}× SLATE-KV)" if ratio else ""))
    return f"{row['model']} {row['resolution']} px B{row['batch']} {row['precision']}: " + ", ".join(cells)


def held_out_images(num_scenes: int, resolution: int, seed: int = 0) -> torch.Tensor:
    """The held-out full scenes of `training/evaluate.py` (synthetic CLEVR-like, 3–6 objects, the test split) →
    (N,3,H,W) in [0,1]."""
    scenes = SyntheticScenes("clevr", num_scenes, resolution, seed=seed, split="test", min_objects=3, max_objects=6)
    return collate([scenes[i] for i in range(num_scenes)], resolution)["pixel_values"]


def decode_counting_steps(pipe, name: str, images: torch.Tensor, generator) -> tuple:
    """Decodes `images` from their slots by strategy `name` → the pipeline's output, and the steps each image ran
    (B,) long (an image that a threshold finished leaves the loop)."""
    unfinished = []  # per step: the images with masked tokens left after it

    def record(pipe, step, timestep, tensors):
        unfinished.append((tensors["tokens"] == pipe.model.config.mask_token_id).any(1))
        return {}

    out = pipe(images=images, generator=generator, output_type="pt", callback_on_step_end=record,
               **with_strategy(pipe, name))  # fmt: skip
    return out, 1 + torch.stack(unfinished).sum(0)


@torch.no_grad()
def quality(pipe, strategies: list[str], seeds: int, images: torch.Tensor, batch_size: int) -> dict:
    """Per strategy: MSE of the image decoded from slots against the input, token agreement with T = 20 at the same
    seed, and the steps each image ran (fewer than T where a threshold finished it early), per seed (image b of seed
    s decoded with generator seed 1000·s + b) and summarised. "T20_other_seed": T = 20's token agreement with itself at
    the next seed (how much sampling alone changes the tokens)."""
    per_seed = {name: {"mse": [], "token_agreement": [], "steps": []} for name in strategies}
    previous_t20, seed_to_seed = None, []
    for seed in range(seeds):
        reference = None
        for name in ["T20"] + [n for n in strategies if n != "T20"]:
            errors, tokens, steps = [], [], []
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size]
                generator = [torch.Generator().manual_seed(1000 * seed + start + b) for b in range(len(batch))]
                out, image_steps = decode_counting_steps(pipe, name, batch, generator)
                errors.append(((out.images.float() - batch) ** 2).mean(dim=(1, 2, 3)))
                tokens.append(out.tokens)
                steps.append(image_steps)
            tokens = torch.cat(tokens)
            if name == "T20":
                if previous_t20 is not None:
                    seed_to_seed.append(float((tokens == previous_t20).float().mean()))
                reference = previous_t20 = tokens
            if name in per_seed:
                per_seed[name]["mse"].append(float(torch.cat(errors).mean()))
                per_seed[name]["token_agreement"].append(float((tokens == reference).float().mean()))
                per_seed[name]["steps"].append(float(torch.cat(steps).float().mean()))
    summary = {}
    for name, values in per_seed.items():
        summary[name] = {key: summarise(series) for key, series in values.items()}
        summary[name]["per_seed"] = values
        base = statistics.mean(per_seed["T20"]["mse"]) if "T20" in per_seed else math.nan
        summary[name]["mse_change"] = statistics.mean(values["mse"]) / base - 1
    if seed_to_seed:
        summary["T20_other_seed"] = {"token_agreement": summarise(seed_to_seed)}
    return summary


def summarise(series: list[float]) -> dict:
    return {"mean": statistics.mean(series), "std": statistics.stdev(series) if len(series) > 1 else 0.0,
            "min": min(series), "max": max(series)}  # fmt: skip


def print_tables(result: dict) -> None:
    speed = result.get("speed", [])
    modes = [m for m in list(STRATEGIES) + list(SLATE_MODES) if any(m in row["ms_per_image"] for row in speed)]
    if speed:
        print("\nms per image (median); in brackets the median over rounds of SLATE-KV time / this time")
        print("| model | px | batch | " + " | ".join(modes) + " |\n|---|---|---|" + "---|" * len(modes))
        for row in speed:
            cells = []
            for mode in modes:
                times = row["ms_per_image"].get(mode)
                ratio = row.get("speedup_over_slate_kv", {}).get(mode)
                cells.append("–" if times is None else f"{statistics.median(times):.1f}" +
                             (f" ({ratio:.2f}×)" if ratio and mode != "slate_kv" else ""))  # fmt: skip
            print(f"| {row['model']} | {row['resolution']} | {row['batch']} | " + " | ".join(cells) + " |")
        print("\ndecoder GFLOP per image (FLOP counter, on two images) and achieved GFLOP/s at the median time")
        print("| model | px | batch | " + " | ".join(modes) + " |\n|---|---|---|" + "---|" * len(modes))
        for row in speed:
            cells = []
            for mode in modes:
                gflop, times = row.get("decoder_gflop_per_image", {}).get(mode), row["ms_per_image"].get(mode)
                cells.append("–" if gflop is None or times is None else
                             f"{gflop:.2f} ({gflop / statistics.median(times) * 1e3:.0f})")  # fmt: skip
            print(f"| {row['model']} | {row['resolution']} | {row['batch']} | " + " | ".join(cells) + " |")
    if "quality" in result:
        print("\n| strategy | MSE (mean ± sd over seeds) | vs T20 | token agreement with T20 | steps run |")
        print("|---|---|---|---|---|")
        for name, entry in result["quality"].items():
            if name == "T20_other_seed":
                agree = entry["token_agreement"]
                print(f"| T20 at the next seed | | | {agree['mean']:.3f} ({agree['min']:.3f}–{agree['max']:.3f}) | |")
                continue
            mse, agree, steps = entry["mse"], entry["token_agreement"], entry["steps"]
            print(f"| {name} | {mse['mean']:.5f} ± {mse['std']:.5f} | {100 * entry['mse_change']:+.1f}% | "
                  f"{agree['mean']:.3f} ({agree['min']:.3f}–{agree['max']:.3f}) | {steps['mean']:.1f} |")  # fmt: skip


def draw_quality_speed(speed_rows: list[dict], quality: dict, case: tuple, path: Path) -> Path:
    """The figure of docs/benchmarks.md: each strategy timed in `case` (model, px, batch) as a point, x its median
    speed-up over SLATE-KV, y its MSE change against T = 20 (%)."""
    (row,) = [r for r in speed_rows if (r["model"], r["resolution"], r["batch"]) == case]
    series = {name: ([round(row["speedup_over_slate_kv"][name], 2)], [100 * quality[name]["mse_change"]])
              for name in row["speedup_over_slate_kv"] if name in quality}  # fmt: skip
    title = f"MOGENT decoding strategies: {case[0]} {case[1]} px, batch {case[2]}, against SLATE-KV (1.0)"
    line_plot(series, title, "speed-up over SLATE-KV (median over rounds)", "MSE vs T = 20 (%)",
              size=(760, 420)).save(path)  # fmt: skip
    print(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", choices=tuple(STRATEGIES), default=list(STRATEGIES),
                        help="scored for quality (default: all)")  # fmt: skip
    parser.add_argument("--speed_strategies", nargs="+", choices=tuple(STRATEGIES), default=list(SPEED_STRATEGIES),
                        help="timed (default: %(default)s)")  # fmt: skip
    parser.add_argument("--cases", nargs="+", default=None,
                        help="speed cases as model:px:batch (model: 3dshapes, clevr, shipped); default: the "
                        "grid of SPEED_CASES")  # fmt: skip
    parser.add_argument("--slate_modes", nargs="*", choices=SLATE_MODES, default=list(SLATE_MODES))
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per case, alternating the order (three "
                        "times as many at batch 1)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch threads while timing (default 1)")
    parser.add_argument("--device", default="cpu", help="where the speed cases run (cpu, cuda); quality: the CPU")
    parser.add_argument("--precision", choices=tuple(DTYPES), default="fp32",
                        help="bf16 only where the device has native bf16 (checked)")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="decoding seeds for the quality columns")
    parser.add_argument("--num_scenes", type=int, default=64, help="held-out scenes for the quality columns")
    parser.add_argument("--batch_size", type=int, default=32, help="batch of the quality decodes")
    parser.add_argument("--shipped", default=str(SHIPPED), help="the pipeline for quality and the shipped row")
    parser.add_argument("--skip_speed", action="store_true")
    parser.add_argument("--skip_quality", action="store_true")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                        help="each speed case in a fresh process (default)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny 16 px model, 1 round, 2 seeds × 4 scenes")
    parser.add_argument(
        "--output", default=None, help="JSON path (default benchmarks/results/decoding_strategies.json)"
    )
    parser.add_argument("--draw", nargs=3, metavar=("SPEED_JSON", "QUALITY_JSON", "CASE"), default=None,
                        help="only draw the quality–speed figure of two saved runs for CASE (model:px:batch), next to "
                        "SPEED_JSON as .png")  # fmt: skip
    args = parser.parse_args(argv)
    if args.draw:
        speed_json, quality_json, case = args.draw
        model, px, batch = case.split(":")
        speed_run, quality_run = (json.loads(Path(path).read_text()) for path in (speed_json, quality_json))
        draw_quality_speed(speed_run["speed"], quality_run["quality"], (model, int(px), int(batch)),
                           Path(speed_json).with_suffix(".png"))  # fmt: skip
        return {"speed": speed_run["speed"], "quality": quality_run["quality"]}
    if not has_native_precision(DTYPES[args.precision], args.device):
        parser.error(f"--precision {args.precision}: {emulation_warning(DTYPES[args.precision], args.device)}")
    cases = [(m, int(px), int(b)) for m, px, b in (c.split(":") for c in args.cases)] if args.cases else SPEED_CASES
    if args.quick:
        cases, args.rounds, args.seeds, args.num_scenes = QUICK_CASES, 1, 2, 4
    result = {"device": device_name(torch.device(args.device)), "torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": args.threads,
              "rounds": args.rounds}  # fmt: skip
    modes = args.speed_strategies + args.slate_modes
    if not args.skip_speed:
        torch.set_num_threads(args.threads)
        result["matmul_peak_gflops"] = matmul_peak(DTYPES[args.precision], torch.device(args.device))
        print(
            f"{result['device']}: {args.precision} matmul peak {result['matmul_peak_gflops']:.0f} GFLOP/s", flush=True
        )
        result["speed"] = []
        for case in cases:
            shipped = args.shipped if case[0] == "shipped" else None
            row = in_fresh_process(measure_case, case, modes, args.rounds, args.precision, args.threads, shipped,
                                   args.device, isolate=args.isolate)  # fmt: skip
            result["speed"].append(row or {"model": case[0], "resolution": case[1], "batch": case[2],
                                           "ms_per_image": {}, "failed": "the case's process died"})  # fmt: skip
            save_results(result, args.output, "decoding_strategies" + ("_quick" if args.quick else ""))
    if not args.skip_quality:
        torch.set_num_threads(args.threads)
        if args.quick:
            pipe = make_pipeline("mogent", "tiny", 16, torch.float32, torch.device("cpu"))
            images = torch.rand(args.num_scenes, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        else:
            pipe = load_shipped(args.shipped)
            images = held_out_images(args.num_scenes, pipe.model.config.image_size)
        strategies = ["T20"] + [name for name in args.strategies if name != "T20"]
        result["quality"] = quality(pipe, strategies, args.seeds, images, args.batch_size)
        result["quality_setup"] = {"model": "tiny 16 px, random weights" if args.quick else str(args.shipped),
                                   "seeds": args.seeds, "num_scenes": args.num_scenes}  # fmt: skip
        save_results(result, args.output, "decoding_strategies" + ("_quick" if args.quick else ""))
    print_tables(result)
    return result


if __name__ == "__main__":
    main()
