"""Diffusers-style pipelines of mogent_hf (installed as `mogent_hf.pipelines`).

Importing this package (`import mogent_hf` does) registers the pipelines with diffusers, so that diffusers' generic
loader `DiffusionPipeline.from_pretrained(directory)` loads a saved MOGENT or SLATE pipeline, as
`AutoModel.from_pretrained` loads the models once `mogent_hf` has registered them with transformers. (From a Hub id,
diffusers 0.42's own download step refuses components of other libraries; `MOGENTPipeline.from_pretrained` and
`load_slot_pipeline` fetch those repositories themselves.)"""

import json
from pathlib import Path

import diffusers

from mogent_hf.modeling_mogent import MOGENTModel
from mogent_hf.modeling_slate import SLATEModel
from mogent_hf.scheduling_maskgit import MaskGITScheduler

from .concept_library import ConceptLibrary
from .pipeline_mogent import MOGENTPipeline
from .pipeline_slate import SLATEPipeline
from .pipeline_utils import SlotPipelineOutput


def register_with_diffusers() -> None:
    """Makes diffusers' generic loader find our pipeline classes. `DiffusionPipeline.from_pretrained` reads the
    pipeline class named by `model_index.json`'s `_class_name` ("MOGENTPipeline") as an attribute of the `diffusers`
    module (diffusers 0.42 keeps no registry of pipelines from other libraries), and each component's class from its
    library (`["mogent_hf.modeling_mogent", "MOGENTModel"]`), which must already be imported: diffusers does not
    import a module because a repository names it. Registering here covers both. An existing attribute of that name
    that is another class is left alone."""
    for pipeline_cls in (MOGENTPipeline, SLATEPipeline):
        if getattr(diffusers, pipeline_cls.__name__, pipeline_cls) is pipeline_cls:
            setattr(diffusers, pipeline_cls.__name__, pipeline_cls)


register_with_diffusers()


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
    "register_with_diffusers",
]
