"""One or two torch threads, on a quiet CPU and beside a busy neighbour: the measurements behind `--num_threads`.

On a 2-core machine, two intra-op threads split every op and then wait for each other; when another process keeps
one core busy, each op waits for a time slice of that core, and a decode of small ops can become tens of times
slower. This script times three things a user runs, each with 1 and 2 threads, first on a quiet machine, then with
`yes > /dev/null` running beside it (one core kept busy):

- a training step of the quickstart's model (the `small` preset at batch 32: forward, backward, Adam);
- a pipeline decode: the shipped full-scene model, MOGENT T = 20 from the slots of one 64-px scene;
- `mogent-hf segment` on one scene, the whole command (start-up, loading, writing the PNGs).

    python benchmarks/threads.py                     # ~3 min on a 2-core CPU; writes benchmarks/results/threads.json
    python benchmarks/threads.py --repeats 1 --steps 2 --output /tmp/t.json   # a smoke run

The machine must be otherwise quiet for the first half: the load average is recorded with each row.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from generation import device_name, in_fresh_process, measure, save_results

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "docs" / "examples" / "scene_0.png"
THREADS = (1, 2)


def time_train_step(num_threads: int, repeats: int) -> list[float]:
    """Seconds per training step of the small model at batch 32, after one warm-up step."""
    from train_step import training_step

    torch.set_num_threads(num_threads)
    step, _ = training_step("mogent", "small", 32, "fp32", True, torch.device("cpu"))
    return measure(step, torch.device("cpu"), repeats, max_seconds=math.inf)


def time_decode(num_threads: int, repeats: int) -> list[float]:
    """Seconds per T = 20 MOGENT decode (batch 1, 64 px) of the shipped model, from one scene's slots."""
    from mogent_hf import load_slot_pipeline
    from mogent_hf.cli import DEFAULT_PIPELINE

    torch.set_num_threads(num_threads)
    pipe = load_slot_pipeline(DEFAULT_PIPELINE)
    pipe.set_progress_bar_config(disable=True)
    slots = pipe.encode(pipe.prepare_images(str(SCENE)), generator=torch.Generator().manual_seed(0)).slots

    def decode():
        pipe(slots=slots, num_inference_steps=20, generator=torch.Generator().manual_seed(0), output_type="pt")

    return measure(decode, torch.device("cpu"), repeats, max_seconds=math.inf)


def time_segment_command(num_threads: int, repeats: int, out: Path) -> list[float]:
    """Wall seconds of `mogent-hf segment SCENE` (the whole command, as a user waits for it)."""
    command = [sys.executable, "-m", "mogent_hf.cli", "segment", str(SCENE), "--out", str(out),
               "--num-threads", str(num_threads)]  # fmt: skip
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        times.append(time.perf_counter() - start)
    return times


@contextmanager
def busy_core(active: bool):
    """`yes > /dev/null` running for the duration (one core kept busy), when `active`."""
    process = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if active else None
    try:
        if process:
            time.sleep(2)  # let the scheduler and the load average see it
        yield
    finally:
        if process:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per row (after a warm-up)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per row")
    parser.add_argument("--conditions", nargs="+", choices=("quiet", "busy"), default=["quiet", "busy"])
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                        help="each in-process row in a fresh process (default)")  # fmt: skip
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/threads.json)")
    args = parser.parse_args(argv)
    out = Path(args.output or ROOT / "benchmarks" / "results" / "threads.json").with_suffix("")
    cases = {
        "training step (small, batch 32)": lambda n: in_fresh_process(
            time_train_step, n, args.steps, isolate=args.isolate
        ),  # fmt: skip
        "decode (shipped model, T = 20, batch 1)": lambda n: in_fresh_process(
            time_decode, n, args.repeats, isolate=args.isolate
        ),  # fmt: skip
        "mogent-hf segment (whole command)": lambda n: time_segment_command(n, args.repeats, out.parent / "segment"),
    }
    rows = []
    for condition in args.conditions:
        with busy_core(condition == "busy"):
            for case, measure in cases.items():
                for threads in THREADS:
                    seconds = measure(threads)
                    rows.append({"case": case, "condition": condition, "threads": threads, "seconds": seconds,
                                 "median_s": statistics.median(seconds), "load": os.getloadavg()[0]})  # fmt: skip
                    print(f"{condition:5s} {threads} thread(s)  {case:42s} {rows[-1]['median_s']:8.3f} s", flush=True)
    print(
        "\n| what | " + " | ".join(f"{c}, {t} thread{'s' * (t > 1)}" for c in args.conditions for t in THREADS) + " |"
    )
    print("|---|" + "---|" * (len(args.conditions) * len(THREADS)))
    for case in cases:
        cells = [next(r for r in rows if r["case"] == case and r["condition"] == c and r["threads"] == t)["median_s"]
                 for c in args.conditions for t in THREADS]  # fmt: skip
        print(f"| {case} | " + " | ".join(f"{cell:.3f} s" for cell in cells) + " |")
    result = {"device": device_name(torch.device("cpu")), "cores": os.cpu_count(), "torch": torch.__version__,
              "capability": torch.backends.cpu.get_cpu_capability(), "rows": rows}  # fmt: skip
    save_results(result, args.output, "threads")
    return result


if __name__ == "__main__":
    main()
