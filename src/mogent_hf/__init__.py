"""mogent_hf: MOGENT (masked generative object-centric transformer) and its baseline SLATE as Hugging Face
models (transformers) and pipelines (diffusers)."""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, PreTrainedModel  # noqa: F401  (PreTrainedModel: see modeling_base)

from .configuration_mogent import MOGENTConfig, SLATEConfig, SlotTransformerConfig
from .image_processing_mogent import MOGENTImageProcessor
from .modeling_base import SlotEncoderOutput, SlotTransformerOutput
from .modeling_mogent import MOGENTModel
from .modeling_slate import SLATEModel
from .scheduling_maskgit import MaskGITScheduler

AutoConfig.register("mogent", MOGENTConfig, exist_ok=True)
AutoConfig.register("slate", SLATEConfig, exist_ok=True)
AutoModel.register(MOGENTConfig, MOGENTModel, exist_ok=True)
AutoModel.register(SLATEConfig, SLATEModel, exist_ok=True)
for _config_class in (MOGENTConfig, SLATEConfig):
    AutoImageProcessor.register(_config_class, image_processor_classes={"pil": MOGENTImageProcessor}, exist_ok=True)

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
    "MOGENTImageProcessor",
    "MOGENTModel",
    "SLATEConfig",
    "SLATEModel",
    "SlotEncoderOutput",
    "SlotTransformerConfig",
    "SlotTransformerOutput",
    "load_slot_pipeline",
    "pipeline_for_model",
]
