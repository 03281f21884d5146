"""Diffusers-style pipelines of mogent_hf (installed as `mogent_hf.pipelines`)."""

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


__all__ = ["ConceptLibrary", "MOGENTPipeline", "SLATEPipeline", "SlotPipelineOutput", "pipeline_for_model"]
