"""Training-step time (forward + backward + Adam step), MOGENT vs SLATE, as the paper's Table 1: Table 1's training
batch size (64, "batch size of 64 for training" on 3D Shapes; also CLEVR's training batch in Table 6, while Table 6
trains 3D Shapes at 50) and a CPU-sized one, fp32 and bf16 autocast, with the preset's dropout and without it
(dropout in attention makes SDPA fall back from the fused kernel to the plain one on CPU); peak memory (CUDA max
allocated, or the peak RSS of the row's own process on CPU) and parameter counts. Each row runs in a fresh process,
so that its peak memory is its own and no earlier row's allocations slow it; a row whose process dies (killed for
memory) is recorded as failed and the run goes on.

    python benchmarks/train_step.py --presets 3dshapes                        # ≈ 6 min on our 2-core CPU
    python benchmarks/train_step.py --presets clevr --no-paper_batch --repeats 2  # ≈ 8 min (batch 8 only)
    python benchmarks/train_step.py --presets clevr --dropout off --repeats 2     # ≈ 12 min, batch 64 without dropout
    python benchmarks/train_step.py --quick                                   # tiny smoke run
clevr at batch 64 takes tens of seconds per step here and, with dropout, would need about 8× the 9.2 GB peak of
batch 8: more than our 24 GiB, hence `--dropout off` for it (without dropout its peak is ~8× 2.5 GB).

`--gradient_checkpointing on|both` adds rows with activation checkpointing of the decoder blocks (as
`train.py --gradient_checkpointing`); `--memory_limit_gb` caps each row's address space, so that a row that needs
more memory fails with an allocation error (recorded) instead of drawing the kernel's OOM killer on the machine:

    python benchmarks/train_step.py --presets clevr --cpu_batch 64 --precisions fp32 --dropout both \
        --gradient_checkpointing both --repeats 1 --no-warmup --memory_limit_gb 19
                                                                  # docs/benchmarks.md, "Gradient checkpointing"
"""

from __future__ import annotations

import argparse
import functools
import itertools
import resource
import statistics
import time

import torch
from generation import choose_precisions, device_name, in_fresh_process, report_peaks, save_results

from mogent_hf import MOGENTConfig, MOGENTModel, SLATEConfig, SLATEModel

MODELS = {"mogent": (MOGENTConfig, MOGENTModel), "slate": (SLATEConfig, SLATEModel)}
TABLE1_TRAIN_BATCH = 64  # Table 1's caption: "batch size of 64 for training"
DROPOUT_CHOICES = {"both": (True, False), "on": (True,), "off": (False,)}
CHECKPOINTING_CHOICES = {"off": (False,), "on": (True,), "both": (False, True)}
PAPER = {
    "mogent": {"parameters": "3.7M", "train_step_s": 0.056},
    "slate": {"parameters": "3.6M", "train_step_s": 0.465},
}


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: max allocated since the row's reset. CPU: the process's peak RSS so far (the row's own when the row runs
    in a fresh process; includes the ~0.5 GB of the imported libraries)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def training_step(model_type, preset, batch, precision, dropout, device, gradient_checkpointing=False):
    """A seeded model of the preset (dropout as the preset's, or 0; activation checkpointing of the decoder blocks
    with `gradient_checkpointing`), Adam and random images → (step, model): `step()` runs one forward (bf16 autocast
    when `precision` is "bf16") + backward + optimizer step."""
    config_cls, model_cls = MODELS[model_type]
    overrides = {} if dropout else {"dropout": 0.0}
    torch.manual_seed(0)
    model = model_cls(config_cls.from_preset(preset, **overrides)).to(device).train()
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.rand(batch, 3, model.config.image_size, model.config.image_size, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        with autocast:
            loss = model(images, tau=1.0, sigma=1.0).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, model


def time_steps(model_type, preset, batch, precision, dropout, device, repeats, gradient_checkpointing=False,
               memory_limit_gb=None, warmup=True) -> dict:  # fmt: skip
    """One row: a warm-up step (unless `warmup` is False), then `repeats` timed steps. With `memory_limit_gb` (CPU),
    the process's address space is capped there first and a step that cannot allocate ends the row as failed, with
    the peak reached."""
    row = {"model": model_type, "preset": preset, "batch": batch, "precision": precision, "dropout": dropout,
           "gradient_checkpointing": gradient_checkpointing}  # fmt: skip
    if memory_limit_gb is not None:
        limit = int(memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    step, model = training_step(model_type, preset, batch, precision, dropout, device, gradient_checkpointing)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    try:
        if warmup:
            step()
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    except (MemoryError, RuntimeError) as error:
        if memory_limit_gb is None or "alloc" not in str(error):
            raise
        row["failed"] = f"out of memory under the {memory_limit_gb} GiB limit ({str(error).splitlines()[0][:120]})"
    row.update(seconds=times, median_s=statistics.median(times) if times else None,
               peak_memory_mb=peak_memory_mb(device),
               parameters=sum(p.numel() for p in model.parameters()))  # fmt: skip
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=["3dshapes", "clevr"])
    parser.add_argument("--cpu_batch", type=int, default=8, help="the CPU-sized batch, next to the paper's")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--paper_batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also time Table 1's batch size, {TABLE1_TRAIN_BATCH} (clevr: tens of s per step on a CPU)",
    )
    parser.add_argument("--dropout", choices=DROPOUT_CHOICES, default="both",
                        help="rows with the preset's dropout (on), without it (off) or both")  # fmt: skip
    parser.add_argument(
        "--gradient_checkpointing",
        choices=CHECKPOINTING_CHOICES,
        default="off",
        help="rows with activation checkpointing of the decoder blocks (on), without (off) or both",
    )
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=None,
                        help="default: fp32, and bf16 where this device runs it natively")  # fmt: skip
    parser.add_argument(
        "--memory_limit_gb",
        type=float,
        default=None,
        help="cap each row's address space (CPU); a row that needs more fails and is recorded",
    )
    parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                        help="an untimed step before the timed ones (--no-warmup: time the first steps, for rows of "
                        "a minute per step, where the first step's allocations are a small share)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny preset, batch 2, 1 repeat")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                        help="time each row in a fresh process (default)")  # fmt: skip
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    presets = ["tiny"] if args.quick else args.presets
    args.precisions = choose_precisions(args.precisions, device)
    peaks = report_peaks(device, args.precisions)
    rows = []
    for preset in presets:
        batches = {2 if args.quick else args.cpu_batch} | (
            {TABLE1_TRAIN_BATCH} if args.paper_batch and not args.quick else set()
        )
        for batch in sorted(batches):
            for precision, dropout, checkpointing in itertools.product(
                args.precisions, DROPOUT_CHOICES[args.dropout], CHECKPOINTING_CHOICES[args.gradient_checkpointing]
            ):
                for model_type in MODELS:
                    options = (model_type, preset, batch, precision, dropout, device, 1 if args.quick else args.repeats)
                    timed = functools.partial(time_steps, gradient_checkpointing=checkpointing,
                                              memory_limit_gb=args.memory_limit_gb, warmup=args.warmup)  # fmt: skip
                    row = in_fresh_process(timed, *options, isolate=args.isolate)
                    if row is None:  # e.g. clevr at batch 64 with dropout needs more than our 24 GiB
                        row = {"model": model_type, "preset": preset, "batch": batch, "precision": precision,
                               "dropout": dropout, "gradient_checkpointing": checkpointing,
                               "failed": "the row's process died (out of memory?)"}  # fmt: skip
                    rows.append(row)
                    timing = row["failed"] if "failed" in row else (
                        f"{1000 * row['median_s']:8.1f} ms/step  {row['parameters']:>10,d} params")  # fmt: skip
                    peak = f"  peak {row['peak_memory_mb']:.0f} MB" if "peak_memory_mb" in row else ""
                    print(f"{preset:8s} B{batch:<3d} {precision} dropout={'on ' if dropout else 'off'} "
                          f"checkpointing={'on ' if checkpointing else 'off'} {model_type:6s} {timing}{peak}",
                          flush=True)  # fmt: skip
    print("\n| preset | batch | precision | dropout | checkpointing | MOGENT ms | SLATE ms | SLATE / MOGENT |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["model"] != "mogent":
            continue
        same = ("preset", "batch", "precision", "dropout", "gradient_checkpointing")
        slate = next(r for r in rows if r["model"] == "slate" and all(r[k] == row[k] for k in same))
        times = [r.get("median_s") for r in (row, slate)]
        checkpointing = "on" if row.get("gradient_checkpointing") else "off"
        cells = [f"{1000 * t:.0f}" if t else "failed" for t in times] + [f"{times[1] / times[0]:.2f}×" if all(
            times) else "–"]  # fmt: skip
        print(f"| {row['preset']} | {row['batch']} | {row['precision']} | {'on' if row['dropout'] else 'off'} | "
              f"{checkpointing} | " + " | ".join(cells) + " |")  # fmt: skip
    result = {"device": device_name(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "peaks_gflops": peaks, "isolated_rows": args.isolate, "paper": PAPER, "rows": rows}  # fmt: skip
    save_results(result, args.output, f"train_step_{device.type}_{'_'.join(presets)}{'_quick' if args.quick else ''}")
    return result


if __name__ == "__main__":
    main()
