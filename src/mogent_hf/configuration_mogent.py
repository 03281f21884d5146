"""Configurations of MOGENT and its baseline SLATE, with the paper's Table 6 presets.

Both models share the DVAE tokenizer, the slot encoder and the shape of the transformer decoder, so they share
one base class of fields; MOGENT adds the switches of its masked decoder (paper §3.2, Tables 4 and 5).
A config describes the network only: Table 6's training recipe (batch size, epochs, learning rates, warm-up, the τ and
σ annealing) is `TrainingRecipe` in `training/recipe.py`. Configs saved while they still carried the recipe load with
those fields ignored.
"""

from __future__ import annotations

import copy

from transformers import AutoConfig, PretrainedConfig

SLOT_INITS = ("gaussian", "learned_queries")
SLOT_INPUTS = ("tokens", "cnn", "tokens_and_cnn")
SLOT_INPUT_STRIDES = (1, 2, 4)
SLOT_UPDATE_NORMALIZATIONS = ("weighted_mean", "scaled_sum")
QUERY_NOISES = ("additive", "relative")
POSITION_ENCODINGS = ("learned", "rope")
MASK_SCHEDULES = ("cosine", "linear")
# Table 6's training recipe, which configs carried until it moved to `TrainingRecipe` (training/recipe.py): a saved
# config.json that still holds these fields loads with them ignored, and a config never saves them.
LEGACY_RECIPE_FIELDS = ("train_batch_size", "num_train_epochs", "warmup_steps", "learning_rate", "dvae_learning_rate",
                        "max_grad_norm", "tau_start", "tau_end", "tau_annealing_steps", "sigma_start",
                        "sigma_annealing_steps")  # fmt: skip

# The architecture of Table 6 of the paper (3D Shapes and CLEVR columns), plus a tiny preset for tests and demos.
# SLATE's own decoder (official repo, 3D Shapes) differs from MOGENT's row in Table 6: 4 heads, MLP 4·d.
_PRESETS: dict[str, dict] = {
    "3dshapes": dict(
        image_size=64,
        vocab_size=1024,
        num_slots=3,
        num_slot_iterations=3,
        slot_size=192,
        slot_mlp_size=192,
        num_decoder_layers=4,
        num_heads=8,
        d_model=192,
        mlp_hidden_size=192,
    ),
    "clevr": dict(
        image_size=128,
        vocab_size=4096,
        num_slots=12,
        num_slot_iterations=3,
        slot_size=192,
        slot_mlp_size=384,
        num_decoder_layers=8,
        num_heads=8,
        d_model=192,
        mlp_hidden_size=192,
    ),
    "tiny": dict(
        image_size=32,
        vocab_size=32,
        num_slots=3,
        num_slot_iterations=2,
        slot_size=32,
        slot_mlp_size=32,
        num_decoder_layers=2,
        num_heads=4,
        d_model=32,
        mlp_hidden_size=64,
        dvae_hidden_size=16,
    ),
    # Ours, for 64 px synthetic scenes on a CPU (docs/results.md): Table 6's shape at a third of the width,
    # no dropout (dropout in attention makes CPU SDPA leave its fused kernel: 2.8x slower steps).
    "small": dict(
        image_size=64,
        vocab_size=64,
        num_slots=5,
        num_slot_iterations=3,
        slot_size=64,
        slot_mlp_size=128,
        num_decoder_layers=2,
        num_heads=4,
        d_model=64,
        mlp_hidden_size=128,
        dvae_hidden_size=32,
        dropout=0.0,
    ),
}
# SLATE keeps its official decoder (singhgautam/slate train.py): 4 heads, MLP width 4·d_model.
_SLATE_OVERRIDES: dict[str, dict] = {
    "3dshapes": dict(num_heads=4, mlp_hidden_size=768),
    "clevr": dict(num_heads=4, mlp_hidden_size=768),
    "tiny": dict(),
    "small": dict(),  # the same decoder for both, so that runs at one budget compare the decoding schemes
}


def check_special_token_id(name: str, value: int, vocab_size: int) -> None:
    """The special token ([MASK] or [BOS]) is the token dictionary's row after the V codes, so its id follows
    `vocab_size`; setting it (a config file, `Config(bos_token_id=...)`) is accepted only at that value."""
    if value != vocab_size:
        raise ValueError(
            f"`{name}` is the token dictionary's row after the {vocab_size} codes, so it must be `vocab_size` "
            f"({vocab_size}); got {value!r}. Change `vocab_size` instead."
        )


class SlotTransformerConfig(PretrainedConfig):
    r"""Fields shared by [`MOGENTConfig`] and [`SLATEConfig`].

    Args:
        image_size (`int`): side of the square input images; divisible by `dvae_patch_size`.
        num_channels (`int`): image channels.
        vocab_size (`int`): DVAE codebook size V.
        dvae_hidden_size (`int`): channels of the DVAE conv stacks (64 in SLATE).
        dvae_patch_size (`int`): pixels per DVAE token along each side: 4 (SLATE, the paper, and every checkpoint saved
            before this field: a 16 × 16 token grid at 64 px) or 2 (a 32 × 32 grid at 64 px, finer slot masks).
        num_slots (`int`): K. num_slot_iterations (`int`): Slot Attention iterations.
        slot_size (`int`): slot dimension. slot_mlp_size (`int`): hidden width of Slot Attention's MLP.
        slot_init (`str`): "gaussian" (SLATE: slots drawn from a learned Gaussian every call) or
            "learned_queries" (QSA: perturbed by noise of the scale `sigma` given to `forward`, which the training
            recipe anneals to 0; none at `sigma` 0, the default of inference).
        bilevel_optimization (`bool`): BO-QSA's straight-through trick (gradients reach the queries only through the
            last iteration). Only used with learned queries.
        query_noise (`str`): how σ perturbs learned queries: "additive" (queries + σ·ε, the paper's wording) or
            "relative" (queries + σ·ε·sg(queries), BO-QSA's code).
        slot_input (`str`): what Slot Attention reads: "tokens" (the DVAE token embeddings, the paper), "cnn"
            (features of a small CNN on the pixels, as Slot Attention/SlotDiffusion) or "tokens_and_cnn" (the token
            embeddings repeated onto the CNN's grid plus the CNN's features, whose last layer starts at zero: a
            tokens model fine-tuned with it starts from exactly its own slots).
        slot_input_stride (`int`): with a CNN input, the CNN's stride in pixels: 4 (the token grid), 2 or 1 (a finer
            grid than the tokens', BO-QSA style; "cnn" then adds Slot Attention's soft position embedding): Slot
            Attention's masks then have (image_size / stride)² cells while the decoder keeps its tokens.
        slot_attention_epsilon (`float`): ε added to the attention before the weighted mean (1e-8 in SLATE).
        slot_update_normalization (`str`): how Slot Attention turns its attention into each slot's update:
            "weighted_mean" (Locatello et al., SLATE: the attention renormalised over the inputs) or "scaled_sum"
            (Krimmel et al. 2024: the attention-weighted sum of the values divided by the number of inputs, so that
            a slot holding little of the image gets a small update).
        codebook_entropy_weight (`float`): w of a −w·H(batch-mean code distribution) term added to the DVAE loss,
            which keeps codes in use (docs/results.md); 0 = the paper. A model saved by `training/train.py` stores
            the weight of its last training step (0 after `--codebook_entropy_annealing_steps`).
        mixture_loss_weight (`float`): weight of an auxiliary loss in which the slot masks mix per-slot token
            predictions (`SlotMixtureTokenDecoder`), so that Slot Attention gives each token to the slot that
            predicts it best; > 0 adds that small decoder (training only); 0 = the paper.
        mixture_decoder_positions (`bool`): whether that decoder's per-slot predictions depend on the token's
            position (a spatial broadcast decoder) or not (one distribution over the codes per slot).
        mixture_background_slot (`int`, *optional*): with `mixture_decoder_positions=False`, the index of a slot
            that alone predicts by position, so that one slot explains a background whose codes vary over the image
            (a background slot by design); needs `slot_init="learned_queries"`. None (default): no such slot.
        mixture_spatial_likelihood (`bool`): each slot of that decoder also predicts where its tokens lie (a
            Gaussian over the token grid with the attention-weighted mean and variance of its tokens), so that a slot
            holding two distant objects of one colour explains them worse than two slots would.
        d_model (`int`): transformer width. num_decoder_layers (`int`), num_heads (`int`), mlp_hidden_size (`int`).
        dropout (`float`): dropout in the decoder and on the embeddings.
        position_encoding (`str`): decoder positions, "learned" absolute or 2-D "rope" (Table 5).
        normalize_decoder_input (`bool`): the first decoder block replaces the residual stream by its self-attention
            LayerNorm of the embedded tokens, as the official SLATE code's first block (`is_first`) does; False
            (default, and every checkpoint saved before this field) adds the attention to the raw embeddings like
            every later block. The same parameters either way; the paper does not say.

    transformers' common names read and write the decoder's fields (`attribute_map`): `hidden_size` is `d_model`,
    `num_attention_heads` is `num_heads`, `num_hidden_layers` is `num_decoder_layers`.
    """

    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "num_heads",
        "num_hidden_layers": "num_decoder_layers",
    }

    image_size: int = 64
    num_channels: int = 3
    vocab_size: int = 1024
    dvae_hidden_size: int = 64
    dvae_patch_size: int = 4
    num_slots: int = 3
    num_slot_iterations: int = 3
    slot_size: int = 192
    slot_mlp_size: int = 192
    slot_init: str = "learned_queries"
    slot_input: str = "tokens"
    slot_input_stride: int = 4
    bilevel_optimization: bool = True
    query_noise: str = "additive"
    slot_attention_epsilon: float = 1e-8
    slot_update_normalization: str = "weighted_mean"
    codebook_entropy_weight: float = 0.0
    mixture_loss_weight: float = 0.0
    mixture_decoder_positions: bool = True
    mixture_background_slot: int | None = None
    mixture_spatial_likelihood: bool = False
    d_model: int = 192
    num_decoder_layers: int = 4
    num_heads: int = 8
    mlp_hidden_size: int = 192
    dropout: float = 0.1
    position_encoding: str = "learned"
    normalize_decoder_input: bool = False

    def __post_init__(self, **kwargs):
        for name in LEGACY_RECIPE_FIELDS:  # a config saved with the training recipe: its recipe is not the model's
            kwargs.pop(name, None)
        super().__post_init__(**kwargs)  # sets the keyword arguments that are not fields (`hidden_size`, ...) too
        self._check_fields()

    def _check_fields(self) -> None:
        positive = ("image_size", "num_channels", "vocab_size", "dvae_hidden_size", "num_slots", "num_slot_iterations")
        positive += ("slot_size", "slot_mlp_size", "d_model", "num_decoder_layers", "num_heads", "mlp_hidden_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if self.dvae_patch_size not in (2, 4):
            raise ValueError(f"`dvae_patch_size` must be 2 or 4, got {self.dvae_patch_size!r}")
        if self.image_size % self.dvae_patch_size:
            raise ValueError(
                f"`image_size` must be divisible by `dvae_patch_size` ({self.dvae_patch_size}), got {self.image_size}"
            )
        if self.d_model % self.num_heads:
            raise ValueError(f"`d_model` ({self.d_model}) must be divisible by `num_heads` ({self.num_heads})")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"`position_encoding` must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.position_encoding == "rope" and (self.d_model // self.num_heads) % 4:
            raise ValueError(
                f"`position_encoding`='rope' needs a head dimension divisible by 4, got d_model/num_heads = "
                f"{self.d_model}/{self.num_heads}"
            )
        if self.slot_init not in SLOT_INITS:
            raise ValueError(f"`slot_init` must be one of {SLOT_INITS}, got {self.slot_init!r}")
        if self.slot_input not in SLOT_INPUTS:
            raise ValueError(f"`slot_input` must be one of {SLOT_INPUTS}, got {self.slot_input!r}")
        if self.slot_input != "tokens" and self.dvae_patch_size != 4:
            raise ValueError(
                f"`slot_input`={self.slot_input!r} reads a CNN on a 4-pixel grid: needs `dvae_patch_size` 4, got "
                f"{self.dvae_patch_size}"
            )
        if self.slot_input_stride not in SLOT_INPUT_STRIDES:
            raise ValueError(f"`slot_input_stride` must be one of {SLOT_INPUT_STRIDES}, got {self.slot_input_stride!r}")
        if self.slot_input_stride != 4 and self.slot_input == "tokens":
            raise ValueError(
                f"`slot_input_stride` {self.slot_input_stride} sets the CNN's grid: needs `slot_input` 'cnn' or "
                f"'tokens_and_cnn', got 'tokens'"
            )
        if self.slot_input_stride != 4 and self.mixture_loss_weight > 0:
            raise ValueError(
                f"the mixture loss reads Slot Attention's masks on the token grid: `mixture_loss_weight` must be 0 "
                f"with `slot_input_stride` {self.slot_input_stride}, got {self.mixture_loss_weight}"
            )
        if self.query_noise not in QUERY_NOISES:
            raise ValueError(f"`query_noise` must be one of {QUERY_NOISES}, got {self.query_noise!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if self.codebook_entropy_weight < 0:
            raise ValueError(f"`codebook_entropy_weight` must be >= 0, got {self.codebook_entropy_weight}")
        if self.mixture_loss_weight < 0:
            raise ValueError(f"`mixture_loss_weight` must be >= 0, got {self.mixture_loss_weight}")
        if self.mixture_background_slot is not None:
            if self.mixture_decoder_positions or self.slot_init != "learned_queries":
                raise ValueError(
                    "`mixture_background_slot` needs `mixture_decoder_positions=False` and "
                    f"`slot_init='learned_queries'`, got {self.mixture_decoder_positions} and {self.slot_init!r}"
                )
            if not 0 <= self.mixture_background_slot < self.num_slots:
                raise ValueError(
                    f"`mixture_background_slot` must be a slot index in [0, {self.num_slots}), got "
                    f"{self.mixture_background_slot}"
                )
        if self.slot_update_normalization not in SLOT_UPDATE_NORMALIZATIONS:
            raise ValueError(
                f"`slot_update_normalization` must be one of {SLOT_UPDATE_NORMALIZATIONS}, got "
                f"{self.slot_update_normalization!r}"
            )
        if self.slot_attention_epsilon < 0:
            raise ValueError(f"`slot_attention_epsilon` must be >= 0, got {self.slot_attention_epsilon}")

    @property
    def tokens_per_side(self) -> int:
        """Side of the token grid: image_size / dvae_patch_size."""
        return self.image_size // self.dvae_patch_size

    @property
    def num_tokens(self) -> int:
        """L, the number of DVAE tokens of an image."""
        return self.tokens_per_side**2

    @property
    def slot_grid_side(self) -> int:
        """Side of the grid Slot Attention reads: the token grid, or the CNN's with a CNN `slot_input`."""
        return self.image_size // (self.dvae_patch_size if self.slot_input == "tokens" else self.slot_input_stride)

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(_PRESETS)

    @classmethod
    def preset_values(cls, name: str) -> dict:
        """The field values of preset `name` for this model type."""
        if name not in _PRESETS:
            raise ValueError(f"`preset` must be one of {tuple(_PRESETS)}, got {name!r}")
        return copy.deepcopy(_PRESETS[name])

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """Builds the config of preset `name` ("3dshapes", "clevr" from Table 6, "small" for 64 px synthetic scenes
        on a CPU, or "tiny" for tests); `overrides` win. The preset's training recipe is
        `TrainingRecipe.from_preset(name)` (training/recipe.py)."""
        recipe = sorted(set(overrides) & set(LEGACY_RECIPE_FIELDS))
        if recipe:
            raise ValueError(
                f"{recipe} are training settings, not config fields: give them to `TrainingRecipe` "
                "(training/recipe.py) or as flags of training/train.py"
            )
        values = cls.preset_values(name)
        values.update(overrides)
        return cls(**values)


class MOGENTConfig(SlotTransformerConfig):
    r"""Configuration of [`MOGENTModel`]: SLATE's parts with a masked bidirectional decoder (paper §3.2).

    Args (besides [`SlotTransformerConfig`]'s):
        mask_schedule (`str`): γ, "cosine" (paper, MaskGIT) or "linear"; shared by training and decoding.
        zero_mask_init (`bool`): initialise the [MASK] embedding to zero (Table 4).
        loss_on_masked_only (`bool`): cross-entropy on masked tokens only (Table 4).
        head_transform (`bool`): MaskGIT's head, Linear→GELU→LayerNorm before the vocabulary projection (the paper's
            "additional linear layer"); False gives SLATE's single projection.

    Example:
    ```python
    >>> from mogent_hf import MOGENTConfig, MOGENTModel
    >>> model = MOGENTModel(MOGENTConfig.from_preset("3dshapes"))
    ```
    """

    model_type = "mogent"

    slot_init: str = "learned_queries"
    mask_schedule: str = "cosine"
    zero_mask_init: bool = True
    loss_on_masked_only: bool = True
    head_transform: bool = True

    def _check_fields(self) -> None:
        super()._check_fields()
        if self.mask_schedule not in MASK_SCHEDULES:
            raise ValueError(f"`mask_schedule` must be one of {MASK_SCHEDULES}, got {self.mask_schedule!r}")

    @property
    def mask_token_id(self) -> int:
        """Index of [MASK] in the token dictionary (after the V codes): always `vocab_size`."""
        return self.vocab_size

    @mask_token_id.setter
    def mask_token_id(self, value: int) -> None:
        check_special_token_id("mask_token_id", value, self.vocab_size)


class SLATEConfig(SlotTransformerConfig):
    r"""Configuration of [`SLATEModel`] (Singh et al. 2022): the autoregressive baseline.

    Defaults follow the official SLATE code: Gaussian slot initialisation, 4 heads, MLP width 4·d_model.

    Example:
    ```python
    >>> from mogent_hf import SLATEConfig, SLATEModel
    >>> model = SLATEModel(SLATEConfig.from_preset("3dshapes"))
    ```
    """

    model_type = "slate"

    slot_init: str = "gaussian"
    bilevel_optimization: bool = False
    num_heads: int = 4
    mlp_hidden_size: int = 768

    @classmethod
    def preset_values(cls, name: str) -> dict:
        values = super().preset_values(name)
        values.update(_SLATE_OVERRIDES[name])
        return values

    @property
    def bos_token_id(self) -> int:
        """Index of [BOS] in the token dictionary (after the V codes): always `vocab_size`."""
        return self.vocab_size

    @bos_token_id.setter
    def bos_token_id(self, value: int) -> None:
        check_special_token_id("bos_token_id", value, self.vocab_size)


__all__ = ["MOGENTConfig", "SLATEConfig", "SlotTransformerConfig"]

# Registered with transformers' Auto classes when the package imports this module; a copy that travels with a saved
# model (`remote_code`: another module name) leaves the registry to transformers' `auto_map`.
if __name__.startswith("mogent_hf."):
    AutoConfig.register("mogent", MOGENTConfig, exist_ok=True)
    AutoConfig.register("slate", SLATEConfig, exist_ok=True)
