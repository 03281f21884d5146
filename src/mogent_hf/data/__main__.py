"""`python -m mogent_hf.data make --kind clevr --num-train 50000 --out DIR [--push-to-hub org/name]`."""

from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from .synthetic import dataset_card, make_synthetic_dataset, push_dataset_folder, save_as_hub_layout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mogent_hf.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="render a synthetic dataset in the Hub's parquet layout")
    make.add_argument("--kind", choices=["clevr", "shapes3d"], required=True)
    make.add_argument("--num-train", type=int, default=50000)
    make.add_argument("--num-test", type=int, default=1000)
    make.add_argument("--resolution", type=int, default=64)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--out", required=True, help="output directory (data/*.parquet + README.md)")
    make.add_argument("--push-to-hub", metavar="REPO_ID", help="also push to this dataset repo")
    args = parser.parse_args(argv)
    with tqdm(total=2, desc="rendering splits") as progress:
        dataset = make_synthetic_dataset(args.kind, args.num_train, args.num_test, args.resolution, args.seed)
        progress.update(2)
    rows = {split: part.num_rows for split, part in dataset.items()}
    card = dataset_card(dataset, args.kind, args.resolution, args.seed)
    out = save_as_hub_layout(dataset, args.out, card)
    print(f"wrote {rows} to {out}")
    if args.push_to_hub:
        print(f"pushed to {push_dataset_folder(out, args.push_to_hub)}")


if __name__ == "__main__":
    main()
