"""Diffusers-style pipelines of mogent_hf (installed as `mogent_hf.pipelines`)."""

import json
from pathlib import Path

from mogent_hf.modeling_mogent import MOGENTModel
from mogent_hf.modeling_slate import SLATEModel
from mogent_hf.scheduling_maskgit import MaskGITScheduler

from .concept_library import ConceptLibrary
from .pipeline_mogent import MOGENTPipeline
from .pipeline_slate import SLATEPipeline
from .pipeline_utils import SlotPipelineOutput


def pipeline_for_model(model) -> MOGENTPipeline | SLATEPipeline:
    """The pipeline of a `MOGENTModel` (with a default `MaskGITScheduler`) or of a `SLATEModel`."""
    if isinstance(model, MOGENTModel):
        return MOGENTPipeline(model=model, scheduler=MaskGITScheduler(mask_token_id=model.config.mask_token_id))
    if isinstance(model, SLATEModel):
        return SLATEPipeline(model=model)
    raise TypeError(f"`model` must be a MOGENTModel or a SLATEModel, got {type(model).__name__}")


def load_slot_pipeline(name_or_path: str | Path) -> MOGENTPipeline | SLATEPipeline:
    """A saved MOGENT or SLATE pipeline (a directory or a Hub id), whichever its `model_index.json` names."""
    from huggingface_hub import hf_hub_download

    index_path = Path(name_or_path) / "model_index.json"
    if not index_path.exists():
        index_path = Path(hf_hub_download(str(name_or_path), "model_index.json"))
    class_name = json.loads(index_path.read_text())["_class_name"]  # ["pipeline_mogent", name] with remote code
    pipeline_cls = {"MOGENTPipeline": MOGENTPipeline, "SLATEPipeline": SLATEPipeline}.get(
        class_name[-1] if isinstance(class_name, list) else class_name
    )
    if pipeline_cls is None:
        raise ValueError(f"{name_or_path} is neither a MOGENTPipeline nor a SLATEPipeline")
    return pipeline_cls.from_pretrained(name_or_path)


__all__ = [
    "ConceptLibrary",
    "MOGENTPipeline",
    "SLATEPipeline",
    "SlotPipelineOutput",
    "load_slot_pipeline",
    "pipeline_for_model",
]
