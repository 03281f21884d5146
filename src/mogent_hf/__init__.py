"""mogent_hf: MOGENT (masked generative object-centric transformer) and its baseline SLATE as Hugging Face
models (transformers) and pipelines (diffusers).

The package loads lazily, as transformers and diffusers do: `import mogent_hf` costs nothing (so that the
`mogent-hf` command answers `--help` and argument mistakes at once); the first public name taken from it
(`from mogent_hf import MOGENTModel`, `mogent_hf.MOGENTPipeline`) imports torch, transformers and diffusers. The
classes are registered with `AutoConfig`, `AutoModel`, `AutoImageProcessor` and diffusers' `DiffusionPipeline`
either way: by then, or as soon as transformers or diffusers is imported (`auto_registration`)."""

from __future__ import annotations

import importlib

from .auto_registration import register_when_imported

__version__ = "0.1.0"

# public name → the module that defines it
_PUBLIC_NAMES = {
    "MOGENTConfig": "configuration_mogent",
    "SLATEConfig": "configuration_mogent",
    "SlotTransformerConfig": "configuration_mogent",
    "MOGENTImageProcessor": "image_processing_mogent",
    "SlotEncoderOutput": "modeling_base",
    "SlotTransformerOutput": "modeling_base",
    "MOGENTModel": "modeling_mogent",
    "SLATEModel": "modeling_slate",
    "MaskGITScheduler": "scheduling_maskgit",
    "ConceptLibrary": "pipelines",
    "MOGENTPipeline": "pipelines",
    "SLATEPipeline": "pipelines",
    "SlotPipelineOutput": "pipelines",
    "load_slot_pipeline": "pipelines",
    "pipeline_for_model": "pipelines",
}
__all__ = sorted(_PUBLIC_NAMES)


_loaded = False


def _load_and_register() -> None:
    """Imports every public class and registers the models with transformers' Auto classes (the pipelines
    register themselves with diffusers when `mogent_hf.pipelines` is imported). Runs once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    for name, module in _PUBLIC_NAMES.items():
        globals()[name] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    AutoConfig.register("mogent", MOGENTConfig, exist_ok=True)  # noqa: F821  (bound by the loop above)
    AutoConfig.register("slate", SLATEConfig, exist_ok=True)  # noqa: F821
    AutoModel.register(MOGENTConfig, MOGENTModel, exist_ok=True)  # noqa: F821
    AutoModel.register(SLATEConfig, SLATEModel, exist_ok=True)  # noqa: F821
    for config_class in (MOGENTConfig, SLATEConfig):  # noqa: F821
        AutoImageProcessor.register(config_class, image_processor_classes={"pil": MOGENTImageProcessor}, exist_ok=True)  # noqa: F821


register_when_imported(_load_and_register)


def __getattr__(name: str):
    if name not in _PUBLIC_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _load_and_register()
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC_NAMES))
