"""`python -m mogent_hf.data make --kind clevr --num-train 50000 --out DIR [--push-to-hub org/name]`."""

from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..script_support import ArgumentParser, HelpFormatter, run_command, user_errors
from .synthetic import dataset_card, make_synthetic_dataset, push_dataset_folder, save_as_hub_layout


def build_parser() -> argparse.ArgumentParser:
    """The `make` command's options, each with help text and its default shown."""
    parser = ArgumentParser(prog="python -m mogent_hf.data", description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="render a synthetic dataset in the Hub's parquet layout",
                               formatter_class=HelpFormatter)  # fmt: skip
    make.add_argument("--kind", choices=["clevr", "shapes3d"], required=True, help="the scene renderer")
    make.add_argument("--num-train", type=int, default=50000, help="scenes in the train split")
    make.add_argument("--num-test", type=int, default=1000, help="scenes in the test split")
    make.add_argument("--resolution", type=int, default=64, help="image size in pixels")
    make.add_argument("--seed", type=int, default=0, help="the renderer's seed (the data can be made again)")
    make.add_argument("--out", required=True, help="output directory (data/*.parquet + README.md)")
    make.add_argument("--push-to-hub", metavar="REPO_ID", help="also push to this dataset repo")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (
        ("--num-train", args.num_train),
        ("--num-test", args.num_test),
        ("--resolution", args.resolution),
    ):
        if value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    with tqdm(total=2, desc="rendering splits") as progress:
        dataset = make_synthetic_dataset(args.kind, args.num_train, args.num_test, args.resolution, args.seed)
        progress.update(2)
    rows = {split: part.num_rows for split, part in dataset.items()}
    card = dataset_card(dataset, args.kind, args.resolution, args.seed)
    with user_errors():  # an --out that is a file, an unknown or forbidden repo: one `error:` line
        out = save_as_hub_layout(dataset, args.out, card)
        print(f"wrote {rows} to {out}")
        if args.push_to_hub:
            print(f"pushed to {push_dataset_folder(out, args.push_to_hub)}")


if __name__ == "__main__":
    run_command(main, prog="python -m mogent_hf.data")
