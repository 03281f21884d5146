"""Issue 40's candidate table: one markdown row per `training/evaluate.py` result file and mask source, with FG-ARI,
mIoU, FG-mIoU, mBO, the share of scenes whose floor is split over two or more slots and the share in which two
objects share a slot; evaluated with `--mask_sources slot_attention decoder combined`.

    python research/scripts/summarise_candidates.py research/eval/shipped-iter15.json research/eval/D-2500.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = ("fg_ari", "miou", "fg_miou", "mbo", "background_split", "objects_sharing_a_slot")
SOURCES = {"slot_attention": "", "decoder": "@decoder", "combined": "@combined"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="evaluate.py results.json files")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES), help="mask sources shown")
    args = parser.parse_args()
    print("| candidate | mask source | FG-ARI | mIoU | FG-mIoU | mBO | floor split | two objects in a slot |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.results:
        for name, scores in json.loads(Path(path).read_text())["results"].items():
            for source in args.sources:
                values = [scores.get(metric + SOURCES[source]) for metric in METRICS]
                if None in values:
                    continue
                cells = [f"{v:.3f}" for v in values[:4]] + [f"{v:.0%}" for v in values[4:]]
                print(f"| {name} | {source} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
