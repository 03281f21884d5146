"""Rendering speed of the synthetic scene generators, images per second on one core; prints a table, writes JSON.

python benchmarks/data_speed.py [--num-images 500] [--output benchmarks/results/data_speed.json]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from generation import save_results

from mogent_hf.data import render_clevr, render_shapes3d

CASES = [("clevr", 64, render_clevr), ("clevr", 128, render_clevr), ("shapes3d", 64, render_shapes3d)]


def images_per_second(render, resolution: int, num_images: int, repeats: int = 3) -> list[float]:
    render(0, 0, resolution)  # warm caches (grids, permutations)
    rates = []
    for repeat in range(repeats):
        start = time.perf_counter()
        for index in range(num_images):
            render(repeat, index, resolution)
        rates.append(num_images / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--output", "--out", default=None,
                        help="JSON path (default benchmarks/results/data_speed.json)")  # fmt: skip
    args = parser.parse_args()
    results = []
    print("| renderer | resolution | images/s (median of 3, one core) | min-max |\n|---|---|---|---|")
    for kind, resolution, render in CASES:
        rates = images_per_second(render, resolution, args.num_images)
        results.append(dict(kind=kind, resolution=resolution, images_per_second=float(np.median(rates)), runs=rates))
        print(f"| {kind} | {resolution} | {np.median(rates):.0f} | {min(rates):.0f}-{max(rates):.0f} |")
    save_results(dict(machine=platform.processor() or platform.machine(), results=results), args.output, "data_speed")


if __name__ == "__main__":
    main()
