"""The DVAE's Gumbel-softmax noise, before/after: `F.gumbel_softmax` (noise from `exponential_`) against
`mogent_hf.modules.gumbel_noise` (−log(−log U) from uniform draws, in place), for the noise alone and for whole
training steps of MOGENT and SLATE (forward + backward + Adam, fp32, no dropout), alternating the two in one process
so that both see the same machine state. Prints a table, writes JSON.

    python benchmarks/gumbel_noise.py            # 3dshapes batch 50 and clevr batch 8 (≈ 4 min on our 2-core CPU)
    python benchmarks/gumbel_noise.py --quick    # tiny preset smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch
import torch.nn.functional as F
from generation import device_name, save_results
from train_step import MODELS, training_step

from mogent_hf import MOGENTConfig
from mogent_hf.modules import gumbel_noise
from mogent_hf.modules.dvae import DVAE


def exponential_noise_codes(dvae: DVAE, log_probs: torch.Tensor, tau: float, generator=None) -> torch.Tensor:
    """`DVAE.relaxed_codes` as it was: `F.gumbel_softmax`, whose noise comes from `exponential_` (of the global RNG:
    the training steps timed here pass no generator)."""
    return F.gumbel_softmax(log_probs, tau=tau, hard=False, dim=1)


def alternate(before, after, repeats: int) -> dict:
    """Median seconds of `before()` and `after()`, called alternately `repeats` times each after one warm-up each."""
    before(), after()
    times = {"before": [], "after": []}
    for _ in range(repeats):
        for name, fn in (("before", before), ("after", after)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"seconds": times, "before_s": medians["before"], "after_s": medians["after"],
            "speedup": medians["before"] / medians["after"]}  # fmt: skip


def train_step_row(model_type: str, preset: str, batch: int, repeats: int) -> dict:
    step, _ = training_step(model_type, preset, batch, "fp32", dropout=False, device=torch.device("cpu"))

    def step_before():
        with mock.patch.object(DVAE, "relaxed_codes", exponential_noise_codes):
            step()

    return {"what": f"{model_type} train step", "preset": preset, "batch": batch,
            **alternate(step_before, step, repeats)}  # fmt: skip


def noise_row(preset: str, batch: int, repeats: int) -> dict:
    config = MOGENTConfig.from_preset(preset)
    side = config.image_size // 4
    shape = (batch, config.vocab_size, side, side)
    log_probs = torch.randn(shape).log_softmax(dim=1)
    return {"what": "noise alone", "preset": preset, "batch": batch, "shape": list(shape),
            **alternate(lambda: -torch.empty_like(log_probs).exponential_().log(),
                        lambda: gumbel_noise(shape), repeats)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="tiny preset, batch 2, 1 repeat")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    cases = [("tiny", 2)] if args.quick else [("3dshapes", 50), ("clevr", 8)]
    repeats = 1 if args.quick else args.repeats
    rows = []
    print("| what | preset | batch | before (exponential_) ms | after (gumbel_noise) ms | speed-up |")
    print("|---|---|---|---|---|---|")
    for preset, batch in cases:
        for row in (noise_row(preset, batch, repeats), *(train_step_row(m, preset, batch, repeats) for m in MODELS)):
            rows.append(row)
            before, after = 1000 * row["before_s"], 1000 * row["after_s"]
            print(f"| {row['what']} | {preset} | {batch} | {before:.1f} | {after:.1f} | {row['speedup']:.2f}× |",
                  flush=True)  # fmt: skip
    result = {"device": device_name(torch.device("cpu")), "torch": torch.__version__, "rows": rows}
    save_results(result, args.output, f"gumbel_noise_cpu{'_quick' if args.quick else ''}")
    return result


if __name__ == "__main__":
    main()
