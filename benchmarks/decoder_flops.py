"""FLOPs per generated image of each decoder (counted, not timed): what the generation-time ratios would be if every
decoder ran at the same efficiency. A compute-bound CPU cannot make MOGENT more than `FLOP ratio` times faster than
a baseline that runs as efficiently as it does, so the ratios bound what `generation.py` can measure.

Counted with torch's FlopCounterMode over one batch-1 decode (random weights, fp32; the count does not depend on
the precision or the batch), with CPU flash attention counted as `generation.sdpa_flops` does (causal attention:
only the pairs at or below the diagonal).

    python benchmarks/decoder_flops.py          # Table 1 sizes and the Figure 2 sweep (≈ 3 min on our 2-core CPU)
"""

from __future__ import annotations

import argparse

import torch
from generation import decoding_flops, make_pipeline, save_results

MODES = ("mogent", "slate_kv", "slate_uncached")


def count(preset: str, resolution: int) -> dict[str, float]:
    """GFLOP per image of each mode for one model size."""
    pipes = {kind: make_pipeline(kind, preset, resolution, torch.float32, torch.device("cpu"))
             for kind in ("mogent", "slate")}  # fmt: skip
    images = torch.rand(1, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    found = {}
    for mode in MODES:
        pipe = pipes["mogent" if mode == "mogent" else "slate"]
        slots = pipe.model.encode(images, generator=torch.Generator().manual_seed(0)).slots
        found[mode] = decoding_flops(mode, pipe, slots) / 1e9
    return found


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 48, 64, 96, 128],
                        help="Figure 2 sweep with the 3dshapes model")  # fmt: skip
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/decoder_flops.json)")
    args = parser.parse_args(argv)
    sizes = [("3dshapes", r) for r in args.resolutions] + [("clevr", 128)]
    rows = []
    print("| preset | px | tokens | MOGENT GFLOP | SLATE-KV GFLOP | SLATE-uncached GFLOP | uncached / MOGENT | "
          "KV / MOGENT |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for preset, resolution in sizes:
        gflop = count(preset, resolution)
        row = {"preset": preset, "resolution": resolution, "tokens": (resolution // 4) ** 2, "gflop_per_image": gflop,
               "slate_uncached / mogent": gflop["slate_uncached"] / gflop["mogent"],
               "slate_kv / mogent": gflop["slate_kv"] / gflop["mogent"]}  # fmt: skip
        rows.append(row)
        print(f"| {preset} | {resolution} | {row['tokens']} | {gflop['mogent']:.2f} | {gflop['slate_kv']:.2f} | "
              f"{gflop['slate_uncached']:.1f} | {row['slate_uncached / mogent']:.1f}× | "
              f"{row['slate_kv / mogent']:.2f}× |", flush=True)  # fmt: skip
    save_results({"torch": torch.__version__, "rows": rows}, args.output, "decoder_flops")
    return rows


if __name__ == "__main__":
    main()
