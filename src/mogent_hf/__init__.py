"""mogent_hf: MOGENT (masked generative object-centric transformer) and its baseline SLATE as Hugging Face
models (transformers) and pipelines (diffusers)."""

from transformers import AutoConfig, AutoModel, PreTrainedModel  # noqa: F401  (PreTrainedModel: see modeling_base)

from .configuration_mogent import MOGENTConfig, SLATEConfig, SlotTransformerConfig
from .modeling_base import SlotEncoderOutput, SlotTransformerOutput
from .modeling_mogent import MOGENTModel
from .modeling_slate import SLATEModel
from .scheduling_maskgit import MaskGITScheduler

AutoConfig.register("mogent", MOGENTConfig, exist_ok=True)
AutoConfig.register("slate", SLATEConfig, exist_ok=True)
AutoModel.register(MOGENTConfig, MOGENTModel, exist_ok=True)
AutoModel.register(SLATEConfig, SLATEModel, exist_ok=True)

from .pipelines import (  # noqa: E402
    ConceptLibrary,
    MOGENTPipeline,
    SLATEPipeline,
    SlotPipelineOutput,
    load_slot_pipeline,
    pipeline_for_model,
)

__version__ = "0.1.0"
__all__ = [
    "ConceptLibrary",
    "MaskGITScheduler",
    "MOGENTPipeline",
    "SLATEPipeline",
    "SlotPipelineOutput",
    "MOGENTConfig",
    "MOGENTModel",
    "SLATEConfig",
    "SLATEModel",
    "SlotEncoderOutput",
    "SlotTransformerConfig",
    "SlotTransformerOutput",
    "load_slot_pipeline",
    "pipeline_for_model",
]
