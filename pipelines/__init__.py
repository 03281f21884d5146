"""Diffusers-style pipelines of mogent_hf (installed as `mogent_hf.pipelines`)."""

from .concept_library import ConceptLibrary
from .pipeline_mogent import MOGENTPipeline
from .pipeline_slate import SLATEPipeline
from .pipeline_utils import SlotPipelineOutput

__all__ = ["ConceptLibrary", "MOGENTPipeline", "SLATEPipeline", "SlotPipelineOutput"]
