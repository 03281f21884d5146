"""The training recipe of `train.py`: batch size, epochs, learning rates, gradient clipping, warm-up, and the τ and σ
annealing, with the paper's Table 6 values per preset. The model's config (`MOGENTConfig`, `SLATEConfig`) describes the
network only, as transformers keeps `TrainingArguments` apart from a model's config.

A run writes the recipe it used (its warm-up and annealing lengths as resolved from the flags) to
`training_args.json` in its output directory; a fine-tuning run (`--pretrained_model_name_or_path`) starts from the
recipe its base pipeline recorded there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

RECIPE_FILE = "training_args.json"


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """How a model is trained (Table 6). The defaults are the 3D Shapes column.

    Args:
        train_batch_size: images per process and optimizer step (before gradient accumulation).
        num_train_epochs: passes over the training set, unless `--max_train_steps` gives the length.
        warmup_steps: linear warm-up of `learning_rate` (with `--lr_warmup_steps preset`).
        learning_rate: maximum learning rate of everything but the DVAE.
        dvae_learning_rate: the DVAE's constant learning rate.
        max_grad_norm: gradient clipping.
        tau_start, tau_end, tau_annealing_steps: the DVAE's Gumbel-softmax temperature τ, cosine-annealed from
            `tau_start` to `tau_end` (annealing steps with `--annealing_steps preset`).
        sigma_start, sigma_annealing_steps: the scale σ of the noise on the learned slot queries (QSA), cosine-annealed
            from `sigma_start` to 0. Whether the queries are perturbed at all is the model's `slot_init`.
    """

    train_batch_size: int = 50
    num_train_epochs: int = 80
    warmup_steps: int = 30000
    learning_rate: float = 1e-4
    dvae_learning_rate: float = 3e-4
    max_grad_norm: float = 1.0
    tau_start: float = 1.0
    tau_end: float = 0.1
    tau_annealing_steps: int = 30000
    sigma_start: float = 1.0
    sigma_annealing_steps: int = 30000

    def __post_init__(self):
        if not self.tau_start >= self.tau_end > 0:
            raise ValueError(f"need `tau_start` >= `tau_end` > 0, got {self.tau_start} and {self.tau_end}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainingRecipe:
        """The recipe of preset `name` ("3dshapes", "clevr" from Table 6, "small" for 64 px synthetic scenes on a
        CPU, or "tiny" for tests); `overrides` win."""
        if name not in PRESETS:
            raise ValueError(f"`preset` must be one of {tuple(PRESETS)}, got {name!r}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, directory: str | Path) -> Path:
        """Writes `directory/training_args.json`; returns its path."""
        path = Path(directory) / RECIPE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_json_file(cls, path: str | Path) -> TrainingRecipe:
        values = json.loads(Path(path).read_text())
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"{path}: unknown recipe fields {unknown}")
        return cls(**values)


# Table 6 of the paper (3D Shapes and CLEVR columns), ours for 64 px scenes on a CPU (`small`), a tiny one for tests.
# The same recipe trains both models; the architecture of each preset is `MOGENTConfig/SLATEConfig.from_preset`.
PRESETS: dict[str, TrainingRecipe] = {
    "3dshapes": TrainingRecipe(),
    "clevr": TrainingRecipe(
        train_batch_size=64,
        num_train_epochs=400,
        warmup_steps=21860,
        tau_annealing_steps=65580,
        sigma_annealing_steps=65580,
    ),
    "tiny": TrainingRecipe(
        train_batch_size=8,
        num_train_epochs=1,
        warmup_steps=10,
        learning_rate=1e-3,
        dvae_learning_rate=1e-3,
        tau_annealing_steps=30,
        sigma_annealing_steps=30,
    ),
    "small": TrainingRecipe(
        train_batch_size=32,
        num_train_epochs=4,
        warmup_steps=1000,
        learning_rate=4e-4,
        dvae_learning_rate=1e-3,
        tau_annealing_steps=3000,
        sigma_annealing_steps=3000,
    ),
}
