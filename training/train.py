"""Train MOGENT or SLATE with accelerate (one CPU, one GPU, or many processes), with the paper's schedules.

    accelerate launch training/train.py --model_type mogent --preset tiny --synthetic clevr --max_train_steps 500
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 training/train.py ...   # CPU DDP (gloo)

Schedules (paper §4, Table 6): Adam (0.9, 0.999); the DVAE at a constant learning rate, everything else warmed up
linearly to its maximum; DVAE temperature τ cosine-annealed 1.0 → 0.1 and the QSA query noise σ 1 → 0 over the
annealing steps; optional halving of the learning rate on a validation plateau (3D Shapes).

Checkpoints are `checkpoint-{step}` directories, written under a temporary name and renamed when complete;
`--resume_from_checkpoint latest` continues the same run (data order, RNG states, loss sequence). The output
directory ends as a complete pipeline (`MOGENTPipeline.from_pretrained(output_dir)`), with samples/, logs.jsonl,
eval_results.json, the training recipe as run (training_args.json, `recipe.TrainingRecipe`) and a model card, and is
pushed to the Hub with `--push_to_hub`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import os
import shlex
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.tracking import GeneralTracker
from accelerate.utils import (
    DistributedDataParallelKwargs,
    InitProcessGroupKwargs,
    ProjectConfiguration,
    broadcast_object_list,
    set_seed,
)
from hub_sync import HUB_STRATEGIES, HubSync, fetch_hub_checkpoint, hub_repo_id
from mogent_hf.pipelines.pipeline_utils import shuffle_slots
from recipe import RECIPE_FILE, TrainingRecipe
from tqdm.auto import tqdm

from mogent_hf import (
    MOGENTConfig,
    MOGENTModel,
    SLATEConfig,
    SLATEModel,
    pipeline_for_model,
)
from mogent_hf.configuration_mogent import SLOT_INPUT_STRIDES, SLOT_INPUTS, SLOT_UPDATE_NORMALIZATIONS
from mogent_hf.data import Shapes3DH5, SyntheticScenes, collate, iter_clevr_with_masks, load_image_dataset
from mogent_hf.data.render import RENDERERS
from mogent_hf.metrics import background_split_share, segmentation_metrics
from mogent_hf.model_card import render_model_card
from mogent_hf.modules.slot_distillation import select_decoder_attention
from mogent_hf.precision import warn_if_emulated
from mogent_hf.script_support import (
    ArgumentParser,
    HelpFormatter,
    StopRequest,
    add_num_threads_argument,
    configure_logging,
    run_command,
    set_num_threads,
    user_errors,
)
from mogent_hf.training_utils import (
    PlateauHalver,
    StepBatchSampler,
    checkpoint_step,
    codes_in_use,
    cosine_anneal,
    finalize_checkpoint,
    linear_cooldown,
    linear_warmup,
    list_checkpoints,
    partial_checkpoint_dir,
    prune_checkpoints,
    remove_partial_checkpoints,
    resolve_num_steps,
    slot_usage,
)
from mogent_hf.visualization import image_grid, overlay_labels

logger = get_logger(__name__, log_level="INFO")
MODELS = {"mogent": (MOGENTConfig, MOGENTModel), "slate": (SLATEConfig, SLATEModel)}
PRESETS = ("3dshapes", "clevr", "small", "tiny", "quickstart")
# The README's main job: the `small` model with the recipe that finds objects fastest on our CPUs (docs/results.md:
# DVAE warm-up with an annealed codebook-entropy term, then the slot-mask mixture loss faded out), on simple scenes.
# "expected" is what seed 0 measured on an Intel Xeon, 2 threads, on its 64 validation scenes (docs/results.md, "The
# quickstart", has other CPUs); train.py prints it next to the run's own at the end.
QUICKSTART = {
    "model_preset": "small",
    "flags": dict(
        synthetic="clevr", synthetic_simple=True, min_objects=2, max_objects=4,
        codebook_entropy_weight=0.01, codebook_entropy_annealing_steps=1000, dvae_pretrain_steps=1000,
        mixture_loss_weight=1.0, mixture_decoder_positions=False, mixture_loss_annealing_steps=1500,
        lr_warmup_steps="500", annealing_steps="1500", max_train_steps=3000, validation_steps=500,
        checkpointing_steps=500, output_dir="runs/quickstart",
    ),
    "expected": {"fg_ari": 0.584, "mbo": 0.473, "codes_in_use": 10},
}  # fmt: skip
# Config fields a flag may override (None = keep the preset's value).
CONFIG_FLAGS = {
    "vocab_size": int,
    "dvae_hidden_size": int,
    "dvae_patch_size": int,
    "num_slots": int,
    "num_slot_iterations": int,
    "slot_size": int,
    "slot_mlp_size": int,
    "d_model": int,
    "num_decoder_layers": int,
    "num_heads": int,
    "mlp_hidden_size": int,
    "dropout": float,
    "slot_attention_epsilon": float,
    "codebook_entropy_weight": float,
    "mixture_loss_weight": float,
    "mixture_decoder_positions": bool,
    "mixture_background_slot": int,
    "mixture_spatial_likelihood": bool,
    "slot_init": ("gaussian", "learned_queries"),
    "slot_input": SLOT_INPUTS,
    "slot_input_stride": SLOT_INPUT_STRIDES,
    "slot_update_normalization": SLOT_UPDATE_NORMALIZATIONS,
    "query_noise": ("additive", "relative"),
    "position_encoding": ("learned", "rope"),
    "mask_schedule": ("cosine", "linear"),
    "bilevel_optimization": bool,
    "zero_mask_init": bool,
    "loss_on_masked_only": bool,
    "head_transform": bool,
    "normalize_decoder_input": bool,
}
RECIPE_FLAGS = {  # fields of the TrainingRecipe (Table 6) a flag may override
    "train_batch_size": int,
    "learning_rate": float,
    "dvae_learning_rate": float,
    "max_grad_norm": float,
    "tau_start": float,
    "tau_end": float,
    "sigma_start": float,
}
MOGENT_ONLY = ("zero_mask_init", "loss_on_masked_only", "head_transform", "mask_schedule")
# Config flags that leave the trained parameters' shapes alone: allowed with --pretrained_model_name_or_path
# (fine-tuning). --mixture_loss_weight > 0 adds the small mixture decoder, and --slot_input cnn|tokens_and_cnn (with
# any --slot_input_stride) the CNN path into Slot Attention, freshly initialised if the model has none.
FINE_TUNING_FLAGS = (
    "dropout",
    "codebook_entropy_weight",
    "mixture_loss_weight",
    "mixture_decoder_positions",
    "mixture_background_slot",
    "mixture_spatial_likelihood",
    "num_slot_iterations",
    "slot_attention_epsilon",
    "slot_input",
    "slot_input_stride",
    "slot_update_normalization",
)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data-source flags shared by train.py and evaluate.py."""
    data = parser.add_argument_group("data (exactly one source)")
    source = data.add_mutually_exclusive_group()  # required: checked by require_data_source (presets may set one)
    source.add_argument("--synthetic", choices=tuple(RENDERERS), help="scenes rendered on the fly, no files")
    source.add_argument("--dataset_name", help="a `datasets` Hub id or a local dataset directory")
    source.add_argument("--h5_path", help="DeepMind's 3dshapes.h5")
    source.add_argument("--tfrecord_path", help="a CLEVR-with-masks TFRecord file")
    data.add_argument("--synthetic_simple", action="store_true", help="flat colours, uniform background (clevr)")
    data.add_argument("--num_train_scenes", type=int, default=100_000, help="size of the synthetic training set")
    data.add_argument("--num_validation_scenes", type=int, default=64, help="held-out scenes or rows validated on")
    data.add_argument("--image_column", default="image", help="image column of --dataset_name")
    data.add_argument("--mask_column", default="mask", help="ground-truth masks; 'none' when there are none")
    data.add_argument("--validation_split", default="test", help="split of --dataset_name held out for validation")
    data.add_argument("--min_objects", type=int, default=None, help="synthetic clevr: fewest objects per scene")
    data.add_argument("--max_objects", type=int, default=None, help="synthetic clevr: most objects per scene; "
                      "TFRecord: keep scenes with ≤ N objects (6 = CLEVR6)")  # fmt: skip
    data.add_argument("--dataloader_num_workers", type=int, default=0, help="data-loading worker processes")


def decoder_block(value: str) -> int | None:
    """A decoder block index, or None for 'mean' (the blocks' mean)."""
    return None if value == "mean" else int(value)


def require_data_source(args: argparse.Namespace) -> None:
    """A ValueError when no data source is given (the group is optional so that a preset can set one); checked
    after the other flags' values, so that a mistake in those is reported as itself."""
    if not any(getattr(args, name) for name in ("synthetic", "dataset_name", "h5_path", "tfrecord_path")):
        raise ValueError("a data source is needed: give one of --synthetic, --dataset_name, --h5_path, --tfrecord_path")


def quickstart_summary() -> str:
    return ", ".join(f"--{name} {value}" for name, value in QUICKSTART["flags"].items())


def build_parser() -> argparse.ArgumentParser:
    """The command line's options, each with help text and its default shown."""
    parser = ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", choices=tuple(MODELS), help="MOGENT (masked, parallel decoding) or SLATE "
                       "(autoregressive)", default="mogent")  # fmt: skip
    model.add_argument("--preset", choices=PRESETS, default=None, help="3dshapes / clevr: Table 6 of the paper; "
                       "small: 64 px scenes on a CPU; tiny: tests; quickstart: the README's main job (the small "
                       "model and a recipe that finds objects in minutes: " + quickstart_summary() + "). "
                       "Default: tiny")  # fmt: skip
    model.add_argument("--resolution", type=int, default=None, help="image size; None: the preset's")
    model.add_argument("--pretrained_model_name_or_path", default=None, help="start from the weights and "
                       "config of a trained pipeline or model (directory or Hub id) instead of --preset: "
                       "fine-tuning, e.g. full scenes after simple ones; a new run with fresh schedules")  # fmt: skip
    for name, kind in CONFIG_FLAGS.items():
        help_text = f"config field `{name}`; None: the preset's (or the pretrained model's)"
        if kind is bool:
            model.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(kind, tuple):
            model.add_argument(f"--{name}", choices=kind, type=type(kind[0]), default=None, help=help_text)
        else:
            model.add_argument(f"--{name}", type=kind, default=None, help=help_text)

    add_data_arguments(parser)

    train = parser.add_argument_group("training (None = the preset's Table 6 value)")
    for name, kind in RECIPE_FLAGS.items():
        help_text = f"recipe field `{name}`; None: the preset's (or the pretrained pipeline's)"
        train.add_argument(f"--{name}", type=kind, default=None, help=help_text)
    train.add_argument("--gradient_accumulation_steps", type=int, default=1, help="batches per optimizer step")
    train.add_argument("--gradient_checkpointing", action="store_true", help="recompute each decoder block in "
                       "the backward pass: less memory, a slower step (docs/benchmarks.md)")  # fmt: skip
    train.add_argument("--max_train_steps", type=int, default=None, help="optimizer steps; overrides "
                       "--num_train_epochs")  # fmt: skip
    train.add_argument("--num_train_epochs", type=int, default=None, help="epochs; None: the preset's")
    train.add_argument("--lr_warmup_steps", default="5%", help="steps, a fraction of the run, or 'preset'")
    train.add_argument("--annealing_steps", default="15%", help="τ and σ annealing: steps, fraction, or 'preset'")
    train.add_argument("--dvae_pretrain_steps", type=int, default=0, help="train the DVAE alone for the first N "
                       "steps; the rest's warm-up and σ annealing start after them (0 = the paper)")  # fmt: skip
    train.add_argument("--codebook_entropy_annealing_steps", type=int, default=0, help="anneal the config's "
                       "codebook_entropy_weight to 0 (cosine) over N steps; 0 keeps it constant")  # fmt: skip
    train.add_argument("--mixture_loss_annealing_steps", type=int, default=0, help="anneal the mixture loss "
                       "weight to 0 (cosine) over N steps after the DVAE-only phase; 0 keeps it constant. The saved "
                       "config keeps the weight, so that the mixture decoder is still built on loading")  # fmt: skip
    train.add_argument("--slot_distillation_weight", type=float, default=0.0, help="MOGENT: weight of the SPOT-"
                       "style self-distillation of Slot Attention from the decoder's cross-attention (SPOT: 5e-3; "
                       "0 = the paper, off)")  # fmt: skip
    train.add_argument("--slot_distillation_ramp_steps", type=int, default=0, help="raise the distillation "
                       "weight linearly from 0 over N steps after the DVAE-only phase; 0: the full weight at "
                       "once")  # fmt: skip
    train.add_argument("--slot_distillation_block", type=decoder_block, default=-1, help="the decoder block whose "
                       "cross-attention is the distillation target (-1 = the last, as SPOT), or 'mean' (of the "
                       "blocks)")  # fmt: skip
    train.add_argument("--slot_distillation_teacher", default=None, help="a trained MOGENT pipeline or model "
                       "(folder or Hub id), frozen, whose decoder cross-attention is the distillation target (SPOT's "
                       "teacher); default: the model's own decoder in the same pass")  # fmt: skip
    train.add_argument("--lr_cooldown_steps", default="0", help="decay every learning rate (the DVAE's too) "
                       "linearly to 0 over the run's last N steps (steps or fraction; 0 = the paper's constant "
                       "rates)")  # fmt: skip
    train.add_argument("--lr_halve_on_plateau", action="store_true", help="halve the lr when validation stalls")
    train.add_argument("--plateau_patience", type=int, default=4, help="validations without improvement")
    train.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="None: "
                       "accelerate's configuration (no)")  # fmt: skip
    train.add_argument("--seed", type=int, default=0, help="weights, data order and the synthetic scenes")
    add_num_threads_argument(train)

    run = parser.add_argument_group("outputs")
    run.add_argument("--output_dir", default="mogent-output", help="the pipeline, checkpoints, samples, logs")
    run.add_argument("--checkpointing_steps", type=int, default=500, help="save a checkpoint every N steps")
    run.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep the newest N checkpoints")
    run.add_argument("--resume_from_checkpoint", default=None, help="a checkpoint directory, 'latest', or from "
                     "the Hub: 'hub' (this run's --hub_model_id) or a repo id, whose last-checkpoint/ is "
                     "downloaded")  # fmt: skip
    run.add_argument("--validation_steps", type=int, default=500, help="validate and draw samples every N steps")
    run.add_argument("--num_grid_images", type=int, default=8, help="images in each sample grid")
    run.add_argument("--report_to", choices=("none", "tensorboard"), default="none", help="an extra tracker")
    run.add_argument("--push_to_hub", action="store_true", help="push the final pipeline and card to the Hub")
    run.add_argument("--hub_model_id", default=None, help="the Hub repo; None: the output directory's name")
    run.add_argument("--hub_token", default=None, help="None: the token of `hf auth login`")
    run.add_argument("--hub_strategy", choices=HUB_STRATEGIES, default="end", help="with --push_to_hub: push the "
                     "pipeline at the end only; or also at every checkpoint (every_save); or that and the checkpoint "
                     "itself to last-checkpoint/ (checkpoint), in the background")  # fmt: skip
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.preset == "quickstart":  # its recipe as defaults; flags given on the command line still win
        parser.set_defaults(**QUICKSTART["flags"])
        args = parser.parse_args(argv)
    if args.hub_strategy != "end" and not args.push_to_hub:
        parser.error(f"--hub_strategy {args.hub_strategy} pushes to the Hub: it needs --push_to_hub")
    if args.preset is None and args.pretrained_model_name_or_path is None:
        args.preset = "tiny"
    return args


# ---- set-up --------------------------------------------------------------------------------------------------
def build_config(args: argparse.Namespace):
    """The preset's config with every given flag applied; errors name the flag."""
    config_cls, _ = MODELS[args.model_type]
    overrides = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if args.model_type == "slate":
        given = sorted(set(overrides) & set(MOGENT_ONLY))
        if given:
            raise ValueError(f"{', '.join('--' + g for g in given)} only apply to --model_type mogent")
    if args.pretrained_model_name_or_path is not None:
        if args.preset is not None:
            raise ValueError("give --preset or --pretrained_model_name_or_path, not both: each sets the architecture")
        return pretrained_config(args, config_cls, overrides)
    if args.resolution is not None:
        if args.resolution < 16 or args.resolution % 4:
            raise ValueError(
                f"`--resolution` must be a multiple of 4 (one DVAE token per 4×4 patch) and >= 16, got "
                f"{args.resolution}"
            )
        overrides["image_size"] = args.resolution
    preset = QUICKSTART["model_preset"] if args.preset == "quickstart" else args.preset
    return config_cls.from_preset(preset, **overrides)


def build_recipe(args: argparse.Namespace) -> TrainingRecipe:
    """The preset's training recipe, or with --pretrained_model_name_or_path the one its training run recorded, with
    every given flag applied; errors name the field."""
    names = (*RECIPE_FLAGS, "num_train_epochs")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.pretrained_model_name_or_path is not None:
        return dataclasses.replace(pretrained_recipe(args.pretrained_model_name_or_path), **overrides)
    preset = QUICKSTART["model_preset"] if args.preset == "quickstart" else args.preset
    return TrainingRecipe.from_preset(preset, **overrides)


def pretrained_recipe(name_or_path: str) -> TrainingRecipe:
    """The recipe a trained pipeline's run recorded (its training_args.json, a directory or Hub id); the defaults
    of `TrainingRecipe` (Table 6, 3D Shapes) for a pipeline or model without one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    path = Path(name_or_path)
    if path.is_dir():
        recorded = path / RECIPE_FILE
        return TrainingRecipe.from_json_file(recorded) if recorded.exists() else TrainingRecipe()
    try:
        return TrainingRecipe.from_json_file(hf_hub_download(name_or_path, RECIPE_FILE))
    except RemoteEntryNotFoundError:
        return TrainingRecipe()


@functools.cache  # build_config and main both need it: one Hub lookup per run
def pretrained_location(name_or_path: str) -> dict:
    """`from_pretrained` keyword arguments for a saved pipeline (its `model/` folder) or a saved model."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    path = Path(name_or_path)
    if path.is_dir():
        is_pipeline = (path / "model_index.json").exists()
    else:
        try:
            hf_hub_download(name_or_path, "model_index.json")
            is_pipeline = True
        except RemoteEntryNotFoundError:  # a model repository (offline or unknown ids raise on)
            is_pipeline = False
    return {"pretrained_model_name_or_path": name_or_path, "subfolder": "model" if is_pipeline else ""}


def pretrained_config(args: argparse.Namespace, config_cls, overrides: dict):
    """The config of --pretrained_model_name_or_path with the fine-tuning flags applied; architecture flags fail."""
    name = args.pretrained_model_name_or_path
    fixed = sorted(set(overrides) - set(FINE_TUNING_FLAGS))
    fixed += ["resolution"] if args.resolution is not None else []
    if fixed:
        raise ValueError(
            f"{', '.join('--' + flag for flag in fixed)} would change the architecture of "
            f"--pretrained_model_name_or_path {name}; with it, give only training flags "
            f"({', '.join('--' + flag for flag in (*RECIPE_FLAGS, *FINE_TUNING_FLAGS))})"
        )
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(**pretrained_location(name))
    if not isinstance(config, config_cls):
        raise ValueError(
            f"--pretrained_model_name_or_path {name} holds a {type(config).__name__}, but --model_type "
            f"{args.model_type} needs a {config_cls.__name__}"
        )
    config.update(overrides)
    return config


def distillation_teacher(name_or_path: str, num_slots: int, device):
    """The frozen MOGENT model of `--slot_distillation_teacher` (a pipeline or model, folder or Hub id)."""
    teacher = MOGENTModel.from_pretrained(**pretrained_location(name_or_path))
    if teacher.config.num_slots != num_slots:
        raise ValueError(
            f"--slot_distillation_teacher {name_or_path} has {teacher.config.num_slots} slots; the model trained "
            f"has {num_slots}"
        )
    return teacher.to(device).eval().requires_grad_(False)


@torch.no_grad()
def teacher_masks(teacher, pixel_values: torch.Tensor, decoder_block: int | None) -> torch.Tensor:
    """The frozen teacher's decoder cross-attention (B,K,L) over its own slots of `pixel_values`, every token masked
    (as the model's own target is read)."""
    encoded = teacher.encode(pixel_values)
    return select_decoder_attention(teacher.decoder_attention(encoded.tokens, encoded.slots), decoder_block)


def build_datasets(args: argparse.Namespace, resolution: int):
    """(train dataset, validation dataset); rows are {"image", "mask"?} for `collate`."""
    num_val = args.num_validation_scenes
    if args.synthetic:
        render = {k: getattr(args, k) for k in ("min_objects", "max_objects") if getattr(args, k) is not None}
        render.update({"simple": True} if args.synthetic_simple else {})
        if render and args.synthetic != "clevr":
            raise ValueError(
                "`--synthetic_simple`, `--min_objects` and `--max_objects` apply to --synthetic clevr only"
            )
        if args.synthetic == "shapes3d" and resolution != 64:
            raise ValueError(f"`--synthetic shapes3d` renders 64 px images; --resolution is {resolution}")
        return (
            SyntheticScenes(args.synthetic, args.num_train_scenes, resolution, args.seed, "train", **render),
            SyntheticScenes(args.synthetic, num_val, resolution, args.seed, "test", **render),
        )
    if args.dataset_name:
        mask_column = None if args.mask_column == "none" else args.mask_column
        kwargs = dict(image_column=args.image_column, mask_column=mask_column)
        train = load_image_dataset(args.dataset_name, split="train", **kwargs)
        try:
            validation = load_image_dataset(args.dataset_name, split=args.validation_split, **kwargs)
            return train, validation.select(range(min(num_val, len(validation))))
        except ValueError as error:
            if "split" not in str(error).lower():
                raise
    elif args.h5_path:
        train = Shapes3DH5(args.h5_path)
    else:
        import datasets

        if not Path(args.tfrecord_path).exists():
            raise FileNotFoundError(f"`--tfrecord_path` {args.tfrecord_path} does not exist")
        gen_kwargs = dict(path=args.tfrecord_path, resolution=resolution, max_objects=args.max_objects)
        train = datasets.Dataset.from_generator(iter_clevr_with_masks, gen_kwargs=gen_kwargs)
    # no held-out split of its own: the last rows are held out
    size = len(train)
    if size <= num_val:
        raise ValueError(f"the dataset has {size} rows; hold-out of {num_val} validation rows leaves none to train on")
    held_out = range(size - num_val, size)
    if isinstance(train, Shapes3DH5):
        return Shapes3DH5(args.h5_path, range(size - num_val)), Shapes3DH5(args.h5_path, held_out)
    return train.select(range(size - num_val)), train.select(held_out)


def resolve_length(args: argparse.Namespace, recipe: TrainingRecipe, num_rows: int, num_processes: int) -> int:
    """Total optimizer steps from --max_train_steps or the recipe's epochs."""
    if args.max_train_steps is not None:
        if args.max_train_steps < 1:
            raise ValueError(f"`--max_train_steps` must be >= 1, got {args.max_train_steps}")
        return args.max_train_steps
    samples_per_step = recipe.train_batch_size * num_processes * args.gradient_accumulation_steps
    return max(recipe.num_train_epochs * num_rows // samples_per_step, 1)


def resolve_schedules(args: argparse.Namespace, recipe: TrainingRecipe, total_steps: int) -> TrainingRecipe:
    """The recipe as the run follows it: warm-up and (τ, σ) annealing steps the recipe's with 'preset', else steps or
    fractions of the run."""
    if args.lr_warmup_steps != "preset":
        warmup = resolve_num_steps(args.lr_warmup_steps, total_steps, "lr_warmup_steps")
        recipe = dataclasses.replace(recipe, warmup_steps=warmup)
    if args.annealing_steps != "preset":
        annealing = resolve_num_steps(args.annealing_steps, total_steps, "annealing_steps")
        recipe = dataclasses.replace(recipe, tau_annealing_steps=annealing, sigma_annealing_steps=annealing)
    return recipe


class JSONLinesTracker(GeneralTracker):
    """Appends every `accelerator.log` call to `output_dir/logs.jsonl` as {"step": ..., **values}."""

    name = "jsonl"
    requires_logging_directory = True

    def __init__(self, run_name: str, logging_dir: str):
        super().__init__()
        self.path = Path(logging_dir) / "logs.jsonl"

    @property
    def tracker(self):
        return self.path

    def store_init_configuration(self, values: dict):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / "train_config.json").write_text(json.dumps(values, indent=2, default=str))

    def log(self, values: dict, step: int | None = None, **kwargs):
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, **scalars}) + "\n")


def truncate_log(path: Path, last_step: int) -> None:
    """Drops log lines after `last_step` (written by a run that died after its last checkpoint)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= last_step]
        path.write_text("".join(line + "\n" for line in lines))


# ---- validation ------------------------------------------------------------------------------------------------
@torch.no_grad()
def validate(model, batches: list[dict], args, tau: float, device) -> tuple[dict, object]:
    """Validation losses, segmentation metrics (when masks exist), codebook and slot health, and a grid:
    input | DVAE reconstruction | decoded from the slots | slot masks | slots shuffled across images.
    Runs inside `fork_rng`: the training run's RNG state is the same with or without validation."""
    with torch.random.fork_rng(devices=[]):
        return _validate(model, batches, args, tau, device)


def _validate(model, batches: list[dict], args, tau: float, device) -> tuple[dict, object]:
    was_training = model.training
    model.eval()
    pipe = pipeline_for_model(model)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator(device).manual_seed(args.seed)
    metrics, labels, references, tokens = {"loss": 0.0, "dvae_mse": 0.0, "cross_entropy": 0.0}, [], [], []
    slot_masks = []
    for batch in batches:
        pixel_values = batch["pixel_values"].to(device)
        output = model(pixel_values, tau=tau, sigma=0.0, generator=generator)
        for key in ("loss", "dvae_mse", "cross_entropy"):
            metrics[key] += output[key].item() / len(batches)
        encoded = model.encode(pixel_values, generator=generator)
        labels.append(encoded.slot_masks.argmax(1).cpu())
        slot_masks.append(encoded.slot_masks.float().cpu())
        tokens.append(encoded.tokens.cpu())
        if "masks" in batch:
            references.append(batch["masks"])
    metrics["codes_in_use"] = codes_in_use(torch.cat(tokens))
    metrics.update(slot_usage(torch.cat(slot_masks)))
    if references:
        metrics.update(segmentation_metrics(torch.cat(labels).numpy(), torch.cat(references).numpy()))
        metrics["background_split"] = background_split_share(torch.cat(labels).numpy(), torch.cat(references).numpy())

    images = torch.cat([b["pixel_values"] for b in batches])[: args.num_grid_images].to(device)
    encoded = model.encode(images, generator=torch.Generator(device).manual_seed(args.seed))
    dvae = model.decode_tokens(encoded.tokens).float().clamp(0, 1)
    decode = dict(output_type="pt", generator=torch.Generator(device).manual_seed(args.seed))
    decoded = pipe(slots=encoded.slots, **decode).images
    columns = [images, dvae, decoded, overlay_labels(images.float(), encoded.slot_masks.argmax(1))]
    if images.shape[0] > 1:
        columns.append(pipe(slots=shuffle_slots(encoded.slots), **decode).images)
    grid = image_grid([c.float().cpu() for c in columns], scale=max(1, 96 // images.shape[-1]))
    model.train(was_training)
    return metrics, grid


# ---- checkpoints and outputs -------------------------------------------------------------------------------------
def write_training_state(directory: Path, state: dict) -> None:
    (directory / "training_state.json").write_text(json.dumps(state, indent=2))


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, state: dict, total_limit) -> None:
    """Every process writes its part (RNG states per rank) into `.tmp-checkpoint-{step}`; the main process then
    adds the training state, renames it to `checkpoint-{step}` and prunes by step number."""
    if accelerator.is_main_process:
        remove_partial_checkpoints(output_dir)
    accelerator.wait_for_everyone()
    partial = partial_checkpoint_dir(output_dir, step)
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        write_training_state(partial, state)
        finalize_checkpoint(output_dir, step)
        prune_checkpoints(output_dir, total_limit)
    accelerator.wait_for_everyone()


def find_resume_checkpoint(args: argparse.Namespace, output_dir: Path) -> Path | None:
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(args.resume_from_checkpoint)
    checkpoint_step(path)
    if not (path / "training_state.json").exists():
        raise FileNotFoundError(f"`--resume_from_checkpoint` {path} is not a complete checkpoint")
    return path


def stop_requested(stop: StopRequest, accelerator: Accelerator) -> bool:
    """Whether any process caught Ctrl-C / SIGTERM (all processes then stop at the same step)."""
    if accelerator.num_processes == 1:
        return bool(stop)
    flag = torch.tensor(float(bool(stop)), device=accelerator.device)
    return accelerator.reduce(flag, "sum").item() > 0


def launcher(num_processes: int) -> list[str]:
    """How this process was started: `accelerate launch` (its environment variables tell; with the process count
    and mixed precision it set) or plain `python`."""
    if "ACCELERATE_DYNAMO_BACKEND" not in os.environ:
        return ["python"]
    command = ["accelerate", "launch"] + (["--num_processes", str(num_processes)] if num_processes > 1 else [])
    precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    return command + (["--mixed_precision", precision] if precision != "no" else [])


def resume_command(argv: list[str] | None, num_threads: int, num_processes: int = 1) -> str:
    """The command line that continues this run from its newest checkpoint as it was started: the same launcher
    and the same thread count (both change the floating-point sums, so a resumed run is bit-exact only with them)."""
    script = sys.argv[0] if Path(sys.argv[0]).name == "train.py" else "training/train.py"  # as it was run
    argv = list(sys.argv[1:] if argv is None else argv)
    for flag in ("--resume_from_checkpoint", "--num_threads"):
        while flag in argv:
            index = argv.index(flag)
            del argv[index : index + 2]
        argv = [arg for arg in argv if not arg.startswith(flag + "=")]
    options = ["--num_threads", str(num_threads), "--resume_from_checkpoint", "latest"]
    return shlex.join([*launcher(num_processes), script, *argv, *options])


def log_precision_and_threads(args: argparse.Namespace, accelerator: Accelerator, num_threads: int) -> None:
    """One line with the precision and threads in use (a `--mixed_precision` flag overrides what `accelerate
    launch` announced), and one warning where that precision is only emulated on this device."""
    precision = accelerator.mixed_precision
    announced = os.environ.get("ACCELERATE_MIXED_PRECISION")
    source = "" if args.mixed_precision is None or announced in (None, precision) else (
        f" (--mixed_precision overrides the '{announced}' that accelerate launch printed)")  # fmt: skip
    logger.info(f"mixed precision: {precision}{source}; torch threads: {num_threads}", main_process_only=True)
    if precision in ("bf16", "fp16") and accelerator.is_main_process:
        warn_if_emulated(torch.bfloat16 if precision == "bf16" else torch.float16, accelerator.device)


def format_metrics(metrics: dict) -> str:
    """One line of validation metrics: the segmentation scores and codebook health first."""
    first = ("fg_ari", "mbo", "miou", "fg_miou", "codes_in_use", "slots_used", "loss")
    ordered = [key for key in first if key in metrics] + sorted(set(metrics) - set(first))
    return ", ".join(f"{key} {metrics[key]:.4g}" for key in ordered)


# ---- main ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None):
    """Runs the training; returns the trained model (unwrapped) on every process."""
    args = parse_args(argv)
    num_threads = set_num_threads(args.num_threads)
    with user_errors():  # a mistake in the flags or the data ends in one `error:` line on the command line
        config, recipe = build_config(args), build_recipe(args)
        require_data_source(args)
        output_dir = Path(args.output_dir)
        if output_dir.exists() and not output_dir.is_dir():
            raise ValueError(f"`--output_dir` must be a directory, got the file {output_dir}")
        if args.report_to == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
            raise ValueError("`--report_to tensorboard` needs the tensorboard package (pip install tensorboard)")
        train_dataset, validation_dataset = build_datasets(args, config.image_size)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=[JSONLinesTracker("train", str(output_dir))] + ([args.report_to] if args.report_to != "none" else []),
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        kwargs_handlers=[
            InitProcessGroupKwargs(timeout=timedelta(seconds=7200)),
            # DVAE-only steps leave the slot encoder and decoder without gradients
            DistributedDataParallelKwargs(find_unused_parameters=args.dvae_pretrain_steps > 0),
        ],
    )
    configure_logging(accelerator.is_local_main_process)
    log_precision_and_threads(args, accelerator, num_threads)
    with user_errors():
        total_steps = resolve_length(args, recipe, len(train_dataset), accelerator.num_processes)
        recipe = resolve_schedules(args, recipe, total_steps)
        warmup, annealing = recipe.warmup_steps, (recipe.tau_annealing_steps, recipe.sigma_annealing_steps)
        cooldown = resolve_num_steps(args.lr_cooldown_steps, total_steps, "lr_cooldown_steps")
        if args.mixture_loss_annealing_steps < 0 or (
            args.mixture_loss_annealing_steps and not config.mixture_loss_weight
        ):
            raise ValueError(
                "`--mixture_loss_annealing_steps` must be >= 0 and needs a mixture loss (--mixture_loss_weight > 0), "
                f"got {args.mixture_loss_annealing_steps} with weight {config.mixture_loss_weight}"
            )
        if args.slot_distillation_weight < 0 or args.slot_distillation_ramp_steps < 0:
            raise ValueError(
                "`--slot_distillation_weight` and `--slot_distillation_ramp_steps` must be >= 0, got "
                f"{args.slot_distillation_weight} and {args.slot_distillation_ramp_steps}"
            )
        if args.slot_distillation_weight > 0 and args.model_type != "mogent":
            raise ValueError("`--slot_distillation_weight` applies to --model_type mogent only")
        if args.slot_distillation_teacher is not None and args.slot_distillation_weight <= 0:
            raise ValueError("`--slot_distillation_teacher` needs `--slot_distillation_weight` > 0")
        batch_size = recipe.train_batch_size
        set_seed(args.seed)

        _, model_cls = MODELS[args.model_type]
        if args.pretrained_model_name_or_path is None:
            model = model_cls(config)
        else:
            model = model_cls.from_pretrained(**pretrained_location(args.pretrained_model_name_or_path), config=config)
        if args.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        teacher = None
        if args.slot_distillation_teacher is not None:
            teacher = distillation_teacher(args.slot_distillation_teacher, config.num_slots, accelerator.device)
        dvae_parameters = [p for n, p in model.named_parameters() if n.startswith("dvae.")]
        other_parameters = [p for n, p in model.named_parameters() if not n.startswith("dvae.")]
        optimizer = torch.optim.Adam(
            [
                {"params": dvae_parameters, "lr": recipe.dvae_learning_rate},
                {"params": other_parameters, "lr": 0.0},
            ],
            betas=(0.9, 0.999),
        )
        model, optimizer = accelerator.prepare(model, optimizer)

    plateau = PlateauHalver(patience=args.plateau_patience)
    global_step = 0
    with user_errors():  # `hub` or a repo id: download its last-checkpoint/
        with accelerator.main_process_first():
            args.resume_from_checkpoint = fetch_hub_checkpoint(args.resume_from_checkpoint, args, output_dir)
        resume_from = find_resume_checkpoint(args, output_dir)
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = json.loads((resume_from / "training_state.json").read_text())
        global_step = state["global_step"]
        plateau.load_state_dict(state["plateau"])
        if accelerator.is_main_process:
            truncate_log(output_dir / "logs.jsonl", global_step)
        logger.info(f"Resumed from {resume_from} at step {global_step}")
    else:
        if args.resume_from_checkpoint == "latest":
            logger.info(f"No checkpoint in {output_dir}: starting a new run")
        if accelerator.is_main_process:
            truncate_log(output_dir / "logs.jsonl", 0)  # a new run does not continue an old run's log

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        run_config = {
            **vars(args),
            **recipe.to_dict(),
            "total_steps": total_steps,
            "warmup_steps": warmup,
            "annealing_steps": annealing,
            "cooldown_steps": cooldown,
        }
        accelerator.init_trackers("train", config=run_config)
    schedule = {"total_steps": total_steps, "warmup_steps": warmup, "tau_annealing_steps": annealing[0],
                "sigma_annealing_steps": annealing[1], "lr_cooldown_steps": cooldown}  # fmt: skip
    hub = HubSync(hub_repo_id(args), args.hub_strategy, args.hub_token) if args.push_to_hub else None
    accelerator.wait_for_everyone()

    accumulation = args.gradient_accumulation_steps
    sampler = StepBatchSampler(
        len(train_dataset),
        batch_size,
        args.seed,
        accelerator.num_processes,
        accelerator.process_index,
        start_batch=global_step * accumulation,
        num_batches=(total_steps - global_step) * accumulation,
    )
    loader = torch.utils.data.DataLoader(
        train_dataset,
        batch_sampler=sampler,
        collate_fn=lambda rows: collate(rows, config.image_size),
        num_workers=args.dataloader_num_workers,
        generator=torch.Generator().manual_seed(args.seed),  # its base seed must not come from the global RNG
    )
    validation_batches = [
        collate([validation_dataset[i] for i in range(start, min(start + batch_size, len(validation_dataset)))],
                config.image_size)
        for start in range(0, len(validation_dataset), batch_size)
    ]  # fmt: skip

    origin = args.preset or f"from {args.pretrained_model_name_or_path}"
    logger.info(
        f"{args.model_type} ({origin}, {sum(p.numel() for p in model.parameters()):,} parameters): "
        f"{total_steps} steps of {batch_size}×{accelerator.num_processes} processes×{accumulation} accumulation; "
        f"warm-up {warmup}, annealing {annealing}; {len(train_dataset)} training rows"
    )
    progress = tqdm(total=total_steps, initial=global_step, disable=not accelerator.is_local_main_process)
    metrics, grid, start_time = {}, None, time.perf_counter()
    model.train()
    micro_step = 0
    with StopRequest() as stop:  # Ctrl-C / SIGTERM: finish the step, save a checkpoint, print how to resume
        for batch in loader:
            tau = cosine_anneal(global_step, recipe.tau_start, recipe.tau_end, annealing[0])
            pretrain = args.dvae_pretrain_steps
            sigma = cosine_anneal(global_step, recipe.sigma_start, 0.0, annealing[1], start_step=pretrain)
            decay = linear_cooldown(global_step, total_steps, cooldown)
            lr = recipe.learning_rate * linear_warmup(global_step, warmup, start_step=pretrain) * plateau.factor * decay
            dvae_lr = recipe.dvae_learning_rate * decay
            entropy_weight = config.codebook_entropy_weight
            if args.codebook_entropy_annealing_steps > 0:
                entropy_weight = cosine_anneal(global_step, entropy_weight, 0.0, args.codebook_entropy_annealing_steps)
            mixture_weight, mixture_annealing = config.mixture_loss_weight, args.mixture_loss_annealing_steps
            if mixture_annealing > 0:
                mixture_weight = cosine_anneal(global_step, mixture_weight, 0.0, mixture_annealing, start_step=pretrain)
            optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"] = dvae_lr, lr
            pixel_values = batch["pixel_values"].to(accelerator.device)
            distillation = {}  # the paper's pass when off
            if args.slot_distillation_weight > 0:
                ramp = linear_warmup(global_step, args.slot_distillation_ramp_steps, start_step=pretrain)
                distillation = {"slot_distillation_weight": args.slot_distillation_weight * ramp,
                                "slot_distillation_block": args.slot_distillation_block}  # fmt: skip
                if teacher is not None and ramp > 0:  # the model reads it this step (ramp 0 until after the DVAE phase)
                    distillation["slot_distillation_teacher"] = teacher_masks(teacher, pixel_values,
                                                                              args.slot_distillation_block)  # fmt: skip
            with accelerator.accumulate(model):
                output = model(pixel_values, tau=tau, sigma=sigma, dvae_only=global_step < pretrain,
                               codebook_entropy_weight=entropy_weight, mixture_loss_weight=mixture_weight,
                               **distillation)  # fmt: skip
                accelerator.backward(output.loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            micro_step += 1
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            losses = [output.loss, output.dvae_mse, output.cross_entropy, output.mixture_cross_entropy]
            losses = accelerator.reduce(torch.stack(losses).detach().float(), "mean").tolist()
            logs = {"loss": losses[0], "dvae_mse": losses[1], "cross_entropy": losses[2],
                    "mixture_cross_entropy": losses[3], "lr": lr, "tau": tau,
                    "sigma": sigma, "dvae_lr": dvae_lr,
                    "codebook_entropy_weight": entropy_weight, "mixture_loss_weight": mixture_weight}  # fmt: skip
            if distillation:
                logs["slot_distillation_weight"] = distillation["slot_distillation_weight"]
                if output.slot_distillation_cross_entropy is not None:  # None in the DVAE-only phase
                    distilled = output.slot_distillation_cross_entropy.detach().float()
                    logs["slot_distillation_cross_entropy"] = accelerator.reduce(distilled, "mean").item()
            progress.update(1)
            progress.set_postfix(loss=f"{losses[0]:.4f}", lr=f"{lr:.2e}", tau=f"{tau:.3f}", sigma=f"{sigma:.3f}")

            if global_step % args.validation_steps == 0 or global_step == total_steps:
                validation = [None]
                if accelerator.is_main_process:
                    progress.set_description(f"validating on {len(validation_dataset)} held-out scenes")
                    metrics, grid = validate(accelerator.unwrap_model(model), validation_batches, args, tau,
                                             accelerator.device)  # fmt: skip
                    progress.set_description("")
                    progress.unpause()  # the validation's time does not count in the bar's rate and ETA
                    progress.write(f"step {global_step}: " + format_metrics(metrics))
                    samples = output_dir / "samples"
                    samples.mkdir(exist_ok=True)
                    grid.save(samples / f"step-{global_step:06d}.png")
                    validation = [metrics]
                broadcast_object_list(validation)
                metrics = validation[0]
                if args.lr_halve_on_plateau:
                    plateau.update(metrics["loss"])
                logs.update({f"validation/{key}": value for key, value in metrics.items()})
                logs["wall_seconds"] = time.perf_counter() - start_time
            accelerator.log(logs, step=global_step)

            saved = global_step % args.checkpointing_steps == 0 or global_step == total_steps
            stopping = stop_requested(stop, accelerator) and global_step < total_steps
            if saved or stopping:
                state = {"global_step": global_step, "plateau": plateau.state_dict()}
                save_checkpoint(accelerator, output_dir, global_step, state, args.checkpoints_total_limit)
                if hub is not None and accelerator.is_main_process:
                    export = functools.partial(
                        export_pipeline,
                        accelerator.unwrap_model(model),
                        args=args,
                        config=config,
                        recipe=recipe,
                        metrics=metrics,
                        step=global_step,
                        grid=grid,
                        schedule=schedule,
                    )
                    hub.on_save(global_step, output_dir / f"checkpoint-{global_step}", export)
            if stopping:
                progress.close()
                if accelerator.is_main_process:
                    print(
                        f"Stopped at step {global_step} of {total_steps}: saved {output_dir}/checkpoint-{global_step}"
                    )
                    print(f"Resume with:\n  {resume_command(argv, num_threads, accelerator.num_processes)}")
                accelerator.end_training()
                raise SystemExit(stop.exit_status)
    progress.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if not metrics:  # nothing left to train (a finished run resumed to export it): validate the final weights
            tau = cosine_anneal(global_step, recipe.tau_start, recipe.tau_end, annealing[0])
            metrics, grid = validate(accelerator.unwrap_model(model), validation_batches, args, tau, accelerator.device)
        finish(
            accelerator.unwrap_model(model), output_dir, args, config, recipe, metrics, global_step, grid, schedule, hub
        )
    accelerator.end_training()
    return accelerator.unwrap_model(model)


def export_pipeline(
    model,
    folder: Path,
    args,
    config,
    recipe: TrainingRecipe,
    metrics: dict,
    step: int,
    grid,
    schedule: dict,
    location: str,
    push_remote_code: bool = True,
) -> None:
    """Writes the pipeline of `model` at `step` into `folder`, with its last validation metrics, sample grid, the
    training recipe as run (training_args.json) and model card (that recipe; `location` in its usage snippet), and,
    for the Hub, its code (`push_remote_code`). The model's mode and config are left as found.

    With `--codebook_entropy_annealing_steps`, the saved config holds the code-entropy weight of `step` (0 once
    annealed), so that a fine-tune from it goes on as the run ended; train_config.json keeps the schedule."""
    was_training, entropy_weight = model.training, model.config.codebook_entropy_weight
    if args.codebook_entropy_annealing_steps > 0:
        model.config.codebook_entropy_weight = cosine_anneal(
            step, config.codebook_entropy_weight, 0.0, args.codebook_entropy_annealing_steps
        )
    pipeline_for_model(model.eval()).save_pretrained(folder, push_remote_code=push_remote_code)
    model.config.codebook_entropy_weight = entropy_weight
    model.train(was_training)
    (folder / "eval_results.json").write_text(json.dumps({"step": step, **metrics}, indent=2))
    recipe.save(folder)
    if grid is not None:
        grid.save(folder / "samples.png")
    dataset = (
        args.synthetic and f"synthetic-{args.synthetic}" or args.dataset_name or args.h5_path or args.tfrecord_path
    )
    base_model = args.pretrained_model_name_or_path
    training = {"steps": step, "batch_size": recipe.train_batch_size, "seed": args.seed, "preset": args.preset,
                "initialised_from": base_model, **schedule, "learning_rate": recipe.learning_rate,
                "dvae_learning_rate": recipe.dvae_learning_rate, "max_grad_norm": recipe.max_grad_norm,
                "tau_start": recipe.tau_start, "tau_end": recipe.tau_end, "sigma_start": recipe.sigma_start,
                "dvae_pretrain_steps": args.dvae_pretrain_steps, "gradient_accumulation_steps":
                args.gradient_accumulation_steps, "mixed_precision": args.mixed_precision or "no"}  # fmt: skip
    card = render_model_card(config, dataset=dataset, metrics=metrics, training=training, location=location,
                             model_name=location.rstrip("/").split("/")[-1], base_model=base_model)  # fmt: skip
    card.save(folder / "README.md")


def finish(model, output_dir: Path, args, config, recipe, metrics: dict, step: int, grid, schedule: dict, hub) -> None:
    """Saves the pipeline, the last validation metrics, the sample grid, the recipe and the model card; pushes to the
    Hub."""
    location = hub.create_repo() if hub is not None else args.output_dir
    export_pipeline(model, output_dir, args, config, recipe, metrics, step, grid, schedule, location, hub is not None)
    repo_id = hub.on_end(output_dir, step) if hub is not None else None
    print(f"Pipeline: {output_dir.resolve()}  (MOGENTPipeline/SLATEPipeline.from_pretrained)")
    print(f"Samples:  {(output_dir / 'samples').resolve()}  (input | DVAE | decoded | slot masks | shuffled)")
    print(f"Metrics:  {(output_dir / 'eval_results.json').resolve()}: " + json.dumps(
        {k: round(v, 4) for k, v in metrics.items()}))  # fmt: skip
    if repo_id is not None:
        print(f"Hub:      {repo_id}")
    if args.preset == "quickstart" and args.max_train_steps == QUICKSTART["flags"]["max_train_steps"]:
        print(expectation_lines(metrics, QUICKSTART["expected"]))


def expectation_lines(metrics: dict, expected: dict[str, float]) -> str:
    """The run's held-out metrics next to what the same command measured (docs/results.md, "The quickstart")."""
    lines = ["Held-out scenes: this run | the same command, seed 0 (an untrained model: FG-ARI ≈ 0.18)"]
    for key, value in expected.items():
        lines.append(f"  {key:<13} {metrics.get(key, float('nan')):7.3f} | {value:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    run_command(main, prog="train.py")
