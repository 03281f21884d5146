"""Seconds per training step and peak memory of candidate model sizes on one CPU thread, as `training/train.py` trains
them (batch 32 of full synthetic scenes with 3–6 objects, Adam, gradient clipping; the slot encoder and decoder on,
after the DVAE-only phase), each candidate in a fresh process (its own peak RSS, nothing warm from the last one).

    OMP_NUM_THREADS=1 python research/scripts/measure_step_time.py            # every candidate, 5 + 20 steps each
    OMP_NUM_THREADS=1 python research/scripts/measure_step_time.py --candidates small medium --steps 30
    OMP_NUM_THREADS=1 python research/scripts/measure_step_time.py --set num_slot_iterations=3 \
        mixture_loss_weight=1.0  # stage 1

The scenes are rendered once before the clock starts (rendering a batch is timed apart: train.py renders on the
fly, so it adds that time to every step). A candidate is the `small` preset with overrides (below).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from mogent_hf import MOGENTConfig, MOGENTModel
from mogent_hf.data import SyntheticScenes, collate

# The shipped full-scene model is `small` with 7 slots and 5 iterations; the others change one thing or a few.
SHIPPED = dict(num_slots=7, num_slot_iterations=5)
CANDIDATES = {
    "small": dict(SHIPPED),
    "small-mixture": dict(SHIPPED, mixture_loss_weight=1.0, mixture_decoder_positions=False),
    "small-3iter": dict(SHIPPED, num_slot_iterations=3),
    "medium": dict(SHIPPED, slot_size=128, slot_mlp_size=256, d_model=128, num_decoder_layers=4, mlp_hidden_size=256),
    "medium-96": dict(SHIPPED, slot_size=96, slot_mlp_size=192, d_model=96, num_decoder_layers=4, mlp_hidden_size=192),
    "small-patch2": dict(SHIPPED, dvae_patch_size=2),
}


def parse_overrides(pairs: list[str]) -> dict:
    """["key=value", ...] → {key: value}, values read as JSON where they parse (numbers, true/false), else strings."""
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def measure(name: str, warmup: int, steps: int, batch_size: int, overrides: dict) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = MOGENTConfig.from_preset("small", **{**CANDIDATES[name], **overrides})
    model = MOGENTModel(config).train()
    dvae = [p for n, p in model.named_parameters() if n.startswith("dvae.")]
    other = [p for n, p in model.named_parameters() if not n.startswith("dvae.")]
    optimizer = torch.optim.Adam([{"params": dvae, "lr": 1e-3}, {"params": other, "lr": 4e-4}])
    scenes = SyntheticScenes("clevr", batch_size * 4, 64, seed=0, min_objects=3, max_objects=6)
    start = time.perf_counter()
    batches = [collate([scenes[i] for i in range(b * batch_size, (b + 1) * batch_size)]) for b in range(4)]
    render_seconds = (time.perf_counter() - start) / len(batches)
    weight = config.mixture_loss_weight
    times = []
    for step in range(warmup + steps):
        pixel_values = batches[step % len(batches)]["pixel_values"]
        start = time.perf_counter()
        loss = model(pixel_values, tau=0.1, sigma=0.0, mixture_loss_weight=weight).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    saved = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("mixture_decoder."))
    return {
        "candidate": name,
        "overrides": {**CANDIDATES[name], **overrides},
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameters_without_mixture_decoder": saved,
        "tokens": config.num_tokens,
        "step_seconds_median": statistics.median(times[warmup:]),
        "step_seconds_min": min(times[warmup:]),
        "render_seconds_per_batch": render_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", nargs="+", choices=tuple(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--set", nargs="*", default=[], help="config overrides for every candidate, key=value")
    parser.add_argument("--output", default=None, help="also write the rows as JSON here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child process measures one candidate
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.warmup, args.steps, args.batch_size, parse_overrides(args.set))))
        return
    rows = []
    print("| candidate | parameters | tokens | s / step (median, min) | render s / batch | peak RSS MB |")
    print("|---|---|---|---|---|---|", flush=True)
    for name in args.candidates:
        command = [sys.executable, __file__, "--one", name, "--warmup", str(args.warmup), "--steps", str(args.steps),
                   "--batch_size", str(args.batch_size), "--set", *args.set]  # fmt: skip
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        rows.append(row)
        print(f"| {name} | {row['parameters']:,} | {row['tokens']} | {row['step_seconds_median']:.3f}, "
              f"{row['step_seconds_min']:.3f} | {row['render_seconds_per_batch']:.3f} | {row['peak_rss_mb']:.0f} |",
              flush=True)  # fmt: skip
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
