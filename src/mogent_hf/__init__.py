"""mogent_hf: MOGENT (masked generative object-centric transformer) and its baseline SLATE as Hugging Face
models (transformers) and pipelines (diffusers).

The package loads lazily, as transformers and diffusers do: `import mogent_hf` costs nothing (so that the
`mogent-hf` command answers `--help` and argument mistakes at once); the first public name taken from it
(`from mogent_hf import MOGENTModel`, `mogent_hf.MOGENTPipeline`) imports torch, transformers and diffusers. The
modules that define the configs, models, image processor and pipelines register them with `AutoConfig`,
`AutoModel`, `AutoImageProcessor` and diffusers' `DiffusionPipeline` when they are imported, and `import mogent_hf`
alone gets them imported as soon as transformers or diffusers is (`auto_registration`), so the registrations are
in place whenever one of those libraries can look them up."""

from __future__ import annotations

import importlib
import sys

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


# The modules that register their classes when imported (transformers' Auto classes; diffusers for the pipelines).
_REGISTERING_MODULES = (
    "configuration_mogent",
    "image_processing_mogent",
    "modeling_mogent",
    "modeling_slate",
    "pipelines",
)


def _import_registering_modules() -> None:
    for module in _REGISTERING_MODULES:
        importlib.import_module(f"{__name__}.{module}")


def _register_unless_importing_ourselves() -> None:
    """The post-import hook's action. When transformers or diffusers is first imported by one of our own modules
    (its import is under way), importing the others now would meet it half-initialized: that import chain registers
    what it imports, and the first public name taken from the package imports the rest."""
    importing = [
        name for name, module in list(sys.modules.items())
        if name.startswith(f"{__name__}.") and getattr(getattr(module, "__spec__", None), "_initializing", False)
    ]  # fmt: skip
    if not importing:
        _import_registering_modules()


register_when_imported(_register_unless_importing_ourselves)


def __getattr__(name: str):
    if name not in _PUBLIC_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _import_registering_modules()
    value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC_NAMES[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC_NAMES))
