"""The time ratio of two decoders, measured in alternation, so that a slow drift of the machine does not bias it.

`generation.py` times a case's decoders one after another (every MOGENT repeat, then every SLATE one). Our shared
CPUs drift by tens of percent within a session (fp32 matmul peak 171–232 GFLOP/s in one), so that order can move a
ratio by more than its spread: the clevr 128 px fp32 SLATE-uncached / MOGENT ratio read 21.8×, ~31× and 26.2× in three
runs. Here the two decoders alternate in ABBA order (A B, B A, A B, …), each decode in a fresh process after a
warm-up decode of its own (as `generation.measure`), so that drift and process state fall on both alike; each adjacent
pair gives a ratio, and the median and range of those ratios are reported with the ratio of the medians.

    python benchmarks/paired_ratio.py                          # clevr 128 px fp32, uncached SLATE / MOGENT, 5 pairs
                                                               # (≈ 13 min on our 2-core CPU)
    python benchmarks/paired_ratio.py --denominator mogent_compiled \
        --output benchmarks/results/paired_ratio_cpu_clevr_fp32_compiled.json    # MOGENT's decoder compiled
    python benchmarks/paired_ratio.py --numerator slate_kv --precision bf16
    python benchmarks/paired_ratio.py --slate_num_heads 8 \
        --output benchmarks/results/paired_ratio_cpu_clevr_fp32_slate8heads.json  # SLATE with MOGENT's 8 heads

`--slate_num_heads` changes SLATE's head count alone (the preset's is the official code's 4, head size 48; MOGENT's
Table 6 has 8, head size 24): it separates the decoding scheme from the attention shape, which costs CPU time by
the number of query-key scores (heads × L²), not only by FLOPs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch
from generation import (
    DTYPES,
    MODES,
    choose_precisions,
    decode_call,
    device_name,
    in_fresh_process,
    make_pipeline,
    measure,
    report_peaks,
    results_path,
)

from mogent_hf import MOGENTConfig, SLATEConfig


def time_decode(
    mode: str, preset: str, resolution: int, precision: str, device: str, slate_overrides: dict | None = None
) -> float:
    """Seconds of one batch-1 decode from slots by `mode` (see `generation.MODES`), after one warm-up decode;
    `slate_overrides` are config fields of SLATE's model (e.g. its head count)."""
    device = torch.device(device)
    dtype = DTYPES[precision]
    if mode.startswith("mogent"):
        pipe = make_pipeline("mogent", preset, resolution, dtype, device)
    else:
        pipe = make_pipeline("slate", preset, resolution, dtype, device, **(slate_overrides or {}))
    images = torch.rand(1, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    slots = pipe.model.encode(images, generator=torch.Generator(device).manual_seed(0)).slots
    (seconds,) = measure(decode_call(mode, pipe, slots, None), device, repeats=1, max_seconds=math.inf)
    return seconds


def summarise(pairs: list[dict], numerator: str, denominator: str) -> dict:
    """Median and range of the pairs' ratios, and the ratio of the medians."""
    ratios = [pair["ratio"] for pair in pairs]
    medians = {mode: statistics.median(pair["seconds"][mode] for pair in pairs) for mode in (numerator, denominator)}
    return {
        "pairs": len(pairs),
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        "median_seconds": medians,
        "ratio_of_medians": medians[numerator] / medians[denominator],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", choices=("3dshapes", "clevr"), default="clevr")
    parser.add_argument("--resolution", type=int, default=None, help="default: the preset's image size")
    parser.add_argument("--precision", choices=tuple(DTYPES), default="fp32")
    parser.add_argument("--numerator", choices=MODES, default="slate_uncached")
    parser.add_argument("--denominator", choices=MODES, default="mogent")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--slate_num_heads", type=int, default=None,
                        help="heads of SLATE's decoder (default: the preset's, 4 as the official code)")  # fmt: skip
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                        help="each decode in a fresh process (default)")  # fmt: skip
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/"
                        "paired_ratio_<device>_<preset>_<precision>.json)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.numerator == args.denominator:
        parser.error(f"--numerator and --denominator must differ, got {args.numerator!r} for both")
    if args.pairs < 1:
        parser.error(f"--pairs must be at least 1, got {args.pairs}")
    mogent_config = MOGENTConfig.from_preset(args.preset)
    resolution = args.resolution or mogent_config.image_size
    slate_overrides = {} if args.slate_num_heads is None else {"num_heads": args.slate_num_heads}
    slate_config = SLATEConfig.from_preset(args.preset, **slate_overrides)  # a bad override fails before any timing
    device = torch.device(args.device)
    choose_precisions([args.precision], device)  # warns where it is emulated
    peaks = report_peaks(device, [args.precision])
    output = results_path(args.output, f"paired_ratio_{device.type}_{args.preset}_{args.precision}")
    pairs = []
    for index in range(args.pairs):
        order = (args.denominator, args.numerator) if index % 2 == 0 else (args.numerator, args.denominator)
        seconds = {}
        for mode in order:
            call = (mode, args.preset, resolution, args.precision, args.device, slate_overrides)
            seconds[mode] = in_fresh_process(time_decode, *call, isolate=args.isolate)
            if seconds[mode] is None:
                raise SystemExit(f"pair {index + 1}: the process timing {mode} died (out of memory?)")
            print(f"pair {index + 1}/{args.pairs}  {mode:16s} {seconds[mode] * 1e3:10.1f} ms", flush=True)
        pairs.append(
            {"order": list(order), "seconds": seconds, "ratio": seconds[args.numerator] / seconds[args.denominator]}
        )
        print(
            f"pair {index + 1}/{args.pairs}  {args.numerator} / {args.denominator} = {pairs[-1]['ratio']:.2f}×",
            flush=True,
        )
        result = {
            "device": device_name(device),
            "matmul_peak_gflops": peaks,
            "torch": torch.__version__,
            "case": {
                "preset": args.preset,
                "resolution": resolution,
                "batch": 1,
                "precision": args.precision,
                "encoding": "excluded",
                "numerator": args.numerator,
                "denominator": args.denominator,
                "isolated": args.isolate,
                "slate_num_heads": slate_config.num_heads,
                "mogent_num_heads": mogent_config.num_heads,
            },  # fmt: skip
            "pairs": pairs,
            "summary": summarise(pairs, args.numerator, args.denominator),
        }
        output.write_text(json.dumps(result, indent=2))  # after every pair: a run cut short keeps them
    summary = result["summary"]
    print(f"\n{args.preset} {resolution} px batch 1 {args.precision}, {summary['pairs']} pairs in ABBA order:")
    print("| decoder | median ms | min–max ms |\n|---|---|---|")
    for mode in (args.denominator, args.numerator):
        times = [pair["seconds"][mode] * 1e3 for pair in pairs]
        print(f"| {mode} | {statistics.median(times):.1f} | {min(times):.1f}–{max(times):.1f} |")
    print(f"{args.numerator} / {args.denominator}: median of the pair ratios {summary['median_ratio']:.2f}× "
          f"({summary['min_ratio']:.2f}–{summary['max_ratio']:.2f}×); ratio of the medians "
          f"{summary['ratio_of_medians']:.2f}×")  # fmt: skip
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
