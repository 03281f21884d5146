"""Where MOGENT's decoding time goes on this machine, and why attention sets its ceiling.

1. A profile of one MOGENT decode (T=20, batch 1, random weights) at the clevr preset's 128 px in fp32 and bf16:
   self time by kind of operation — attention (SDPA, self and cross), matmuls (linear layers), the rest.
2. SDPA alone at the decoder's shape (8 heads, L = 1024 queries and keys) for head sizes 16–64: time, GFLOP/s and
   share of the machine's matmul peak (measured here). If the time barely grows with the head size, attention is
   bound by its L² softmax (one exp per query-key pair), not by its FLOPs — a limit that MaskGIT decoding
   (20 × L² pairs per head) and uncached autoregressive decoding (Σ t²/2) share, which is why their time ratio
   stays near their FLOP ratio (`decoder_flops.py`).

    python benchmarks/attention.py          # ≈ 1 min on our 2-core CPU
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
from generation import (
    DTYPES,
    choose_precisions,
    decode_call,
    device_name,
    make_pipeline,
    matmul_peak,
    measure,
    save_results,
    synchronize,
)
from torch.profiler import profile

KINDS = {
    "attention (SDPA)": ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_flash_attention_forward",
                         "aten::_efficient_attention_forward", "aten::_scaled_dot_product_cudnn_attention"),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm"),
}  # fmt: skip


def decode_profile(dtype: torch.dtype, device: torch.device, preset: str, resolution: int) -> dict[str, float]:
    """Self time (s) per kind of operation over one MOGENT decode, after a warm-up decode."""
    pipe = make_pipeline("mogent", preset, resolution, dtype, device)
    config = pipe.model.config
    slots = torch.randn(1, config.num_slots, config.slot_size, dtype=dtype, device=device)
    decode = decode_call("mogent", pipe, slots, None)
    decode()
    synchronize(device)
    use_cuda = device.type == "cuda"
    with profile() as profiler:
        decode()
        synchronize(device)
    times = dict.fromkeys([*KINDS, "other"], 0.0)
    for event in profiler.key_averages():
        seconds = (event.self_device_time_total if use_cuda else event.self_cpu_time_total) / 1e6
        kind = next((name for name, ops in KINDS.items() if event.key in ops), "other")
        times[kind] += seconds
    return times


def sdpa_seconds(heads: int, length: int, head_size: int, dtype, device, repeats: int) -> float:
    """Median seconds of one bidirectional SDPA call (1, heads, length, head_size)."""
    query, key, value = (torch.randn(1, heads, length, head_size, dtype=dtype, device=device) for _ in range(3))
    return statistics.median(measure(lambda: F.scaled_dot_product_attention(query, key, value), device, repeats,
                                     max_seconds=float("inf")))  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="clevr")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head_sizes", type=int, nargs="+", default=[16, 24, 32, 48, 64])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--precisions", nargs="+", choices=tuple(DTYPES), default=None,
                        help="default: fp32, and bf16 where this device runs it natively")  # fmt: skip
    parser.add_argument("--output", type=Path, default=None, help="JSON path (default results/attention_DEVICE.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    length = (args.resolution // 4) ** 2
    result = {"machine": device_name(device), "torch": torch.__version__, "preset": args.preset,
              "resolution": args.resolution, "tokens": length, "heads": args.heads,
              "profile": {}, "sdpa": []}  # fmt: skip
    for dtype in (DTYPES[name] for name in choose_precisions(args.precisions, device)):
        name = str(dtype).removeprefix("torch.")
        times = decode_profile(dtype, device, args.preset, args.resolution)
        total = sum(times.values())
        result["profile"][name] = {"seconds": times, "share": {kind: t / total for kind, t in times.items()}}
        peak = matmul_peak(dtype, device)
        for head_size in args.head_sizes:
            seconds = sdpa_seconds(args.heads, length, head_size, dtype, device, args.repeats)
            gflops = 4 * args.heads * length * length * head_size / seconds / 1e9
            result["sdpa"].append({"dtype": name, "head_size": head_size, "ms": seconds * 1e3, "gflop_per_s": gflops,
                                   "share_of_matmul_peak": gflops / peak, "matmul_peak_gflop_per_s": peak,
                                   "ns_per_pair": seconds / (args.heads * length * length) * 1e9})  # fmt: skip
    print_tables(result)
    save_results(result, args.output, f"attention_{device.type}", indent=1)
    return result


def print_tables(result: dict) -> None:
    print(f"# {result['machine']}, torch {result['torch']}")
    print(f"\nMOGENT decode (T=20, batch 1), {result['preset']} preset at {result['resolution']} px: self time by kind")
    print("| dtype | total s | " + " | ".join(result["profile"]["float32"]["share"]) + " |")
    print("|---|---|" + "---|" * len(result["profile"]["float32"]["share"]))
    for dtype, row in result["profile"].items():
        shares = " | ".join(f"{share:.0%}" for share in row["share"].values())
        print(f"| {dtype} | {sum(row['seconds'].values()):.2f} | {shares} |")
    print(f"\nSDPA alone, {result['tokens']} queries × {result['tokens']} keys, {result['heads']} heads")
    print("| dtype | head size | ms | GFLOP/s | of matmul peak | ns per query-key pair |")
    print("|---|---|---|---|---|---|")
    for row in result["sdpa"]:
        print(f"| {row['dtype']} | {row['head_size']} | {row['ms']:.2f} | {row['gflop_per_s']:.0f} | "
              f"{row['share_of_matmul_peak']:.0%} | {row['ns_per_pair']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
