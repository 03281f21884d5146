"""MOGENT vs SLATE over seeds: one markdown table from `training/evaluate.py` result files (one file per seed, each
holding a "mogent" and a "slate" entry): the metric of each model per seed, the mean and sample standard deviation
over seeds, the paired difference MOGENT − SLATE per seed and in how many seeds MOGENT leads.

    python research/scripts/summarise_seeds.py research/eval/C-6000.json research/eval/C1-6000.json \\
        research/eval/C2-6000.json research/eval/C3-6000.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

METRICS = ("fg_ari", "miou", "fg_miou", "mbo", "mse@0.95")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="evaluate.py results.json files, one per seed")
    args = parser.parse_args()
    runs = [json.loads(Path(path).read_text())["results"] for path in args.results]
    print("| metric | " + " | ".join(f"seed {i}: MOGENT / SLATE" for i in range(len(runs))), end="")
    print(" | mean ± sd MOGENT | mean ± sd SLATE | MOGENT − SLATE, mean ± sd | MOGENT ahead |")
    print("|---" * (len(runs) + 5) + "|")
    for metric in METRICS:
        mogent = [run["mogent"].get(metric) for run in runs]
        slate = [run["slate"].get(metric) for run in runs]
        if None in mogent or None in slate:
            continue
        digits = 4 if metric.startswith("mse") else 3
        cells = [f"{m:.{digits}f} / {s:.{digits}f}" for m, s in zip(mogent, slate)]
        differences = [m - s for m, s in zip(mogent, slate)]
        better = [d < 0 if metric.startswith("mse") else d > 0 for d in differences]
        summary = [spread(mogent, digits), spread(slate, digits), spread(differences, digits)]
        print(f"| {metric} | " + " | ".join(cells + summary) + f" | {sum(better)} of {len(runs)} |")


def spread(values: list[float], digits: int) -> str:
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


if __name__ == "__main__":
    main()
