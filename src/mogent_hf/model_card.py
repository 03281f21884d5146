"""Model cards of trained pipelines, rendered from `hub_cards/model_card.md` with `huggingface_hub.ModelCard`: the
Hub metadata (library, pipeline tag, tags, datasets, base model, license), the validation metrics as `model-index`
results, and the training recipe the run actually used (not the preset's)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parents[2] / "hub_cards" / "model_card.md"
# validation key → (model-index metric type, display name); the segmentation metrics of the paper's Table 2
CARD_METRICS = {"fg_ari": "FG-ARI", "miou": "mIoU", "fg_miou": "FG-mIoU", "mbo": "mBO"}


def is_hub_id(name: str | None) -> bool:
    """True for a `namespace/name` Hub id that is not an existing local path; False for None, paths, descriptions."""
    if not name or Path(name).exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        return False
    return all(part and " " not in part for part in name.split("/"))


def render_model_card(
    config,
    dataset: str,
    metrics: dict,
    training: dict,
    model_name: str,
    location: str,
    base_model: str | None = None,
) -> ModelCard:
    """A card for a pipeline of `config` (MOGENTConfig/SLATEConfig) trained on `dataset`.

    Args:
        metrics: the last validation values; FG-ARI/mIoU/FG-mIoU/mBO become `model-index` results.
        training: the run's recipe as used ({name: value}, shown as a table; `steps`, `batch_size`, `seed`,
            `preset` and `initialised_from` also in the text).
        location: what `from_pretrained` takes to load this pipeline: its Hub id or its output directory.
        base_model: the pipeline it was fine-tuned from (a Hub id becomes `base_model` in the metadata).
    """
    if not TEMPLATE.exists():
        raise FileNotFoundError(f"model card template not found at {TEMPLATE}")
    from mogent_hf import MOGENTModel, SLATEModel

    model_type = config.model_type
    model_cls = MOGENTModel if model_type == "mogent" else SLATEModel
    with torch.device("meta"):
        num_parameters = sum(p.numel() for p in model_cls(config).parameters())
    results = [
        EvalResult(
            task_type="image-segmentation",
            task_name="Unsupervised object segmentation",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="validation",
            metric_type=key,
            metric_name=name,
            metric_value=round(float(metrics[key]), 4),
        )
        for key, name in CARD_METRICS.items()
        if key in metrics
    ]
    card_data = ModelCardData(
        license="mit",
        library_name="mogent_hf",
        pipeline_tag="image-segmentation",
        tags=["object-centric", "slot-attention", model_type, "unconditional-image-generation", "mogent_hf"],
        datasets=[dataset] if is_hub_id(dataset) else None,
        base_model=base_model if is_hub_id(base_model) else None,
        model_name=model_name,
        eval_results=results or None,
    )
    pipeline_class = "MOGENTPipeline" if model_type == "mogent" else "SLATEPipeline"
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        display_name=model_name,
        model_type=model_type,
        model_label=model_type.upper(),
        num_parameters=f"{num_parameters:,}",
        dataset=dataset,
        training=training,
        metrics={key: float(value) for key, value in metrics.items()},
        pipeline_class=pipeline_class,
        location=location,
        config_json=json.dumps(config.to_diff_dict(), indent=2, sort_keys=True),
    )
