"""Code on the Hub (mogent_hf.remote_code): pipelines and models pushed with their code load where importing
mogent_hf is impossible (`DiffusionPipeline`/`AutoModel`/`AutoConfig` with `trust_remote_code=True`) and give the
installed package's outputs; the installed package still loads such repos as its own classes."""

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline, load_slot_pipeline
from mogent_hf.remote_code import bundle

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
# checkpoints/mogent-small/model/config.json as first saved, when configs still held the training recipe
CONFIG_WITH_RECIPE = Path(__file__).parent / "data" / "mogent_small_config_with_recipe.json"
IMAGES = "torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))"
OUTPUTS = f"""
def outputs(pipe, model):
    pipe.set_progress_bar_config(disable=True)
    images = {IMAGES}
    decoded = pipe(images=images, mask_ratio=0.5, generator=torch.Generator().manual_seed(1), output_type="np").images
    slots = model.encode(images, generator=torch.Generator().manual_seed(2)).slots
    segment = pipe.segment(images, generator=torch.Generator().manual_seed(3))
    return {{"decoded": decoded.tolist(), "segment": segment.tolist(), "slots": slots.tolist()}}
"""
PUSH = (
    """
import json, sys, torch
from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline, load_slot_pipeline
from mogent_hf import SLATEConfig, SLATEModel, SLATEPipeline
"""
    + OUTPUTS
    + """
torch.manual_seed(0)
mogent = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
slate = SLATEModel(SLATEConfig.from_preset("tiny")).eval()
pipes = {"mogent": MOGENTPipeline(model=mogent, scheduler=MaskGITScheduler(mask_token_id=mogent.config.mask_token_id)),
         "slate": SLATEPipeline(model=slate)}
result = {}
for name, pipe in pipes.items():
    pipe.push_to_hub(f"org/remote-{name}")  # with its code, by default
    pipe.model.push_to_hub(f"org/remote-{name}-model")
    result[name] = outputs(pipe, pipe.model)
print(json.dumps(result))
"""
)
WITHOUT_PACKAGE = """
import importlib.abc, json, sys


class BlockMogentHF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "mogent_hf":
            raise ImportError(f"{name} is blocked in this test")


sys.meta_path.insert(0, BlockMogentHF())
import torch
from diffusers import DiffusionPipeline
from transformers import AutoConfig, AutoModel
"""
BLOCKED = (
    WITHOUT_PACKAGE
    + OUTPUTS
    + """
result = {}
for name in ("mogent", "slate"):
    pipe = DiffusionPipeline.from_pretrained(f"org/remote-{name}", trust_remote_code=True)
    in_pipeline = AutoModel.from_pretrained(f"org/remote-{name}", subfolder="model", trust_remote_code=True)
    alone = AutoModel.from_pretrained(f"org/remote-{name}-model", trust_remote_code=True)
    config = AutoConfig.from_pretrained(f"org/remote-{name}-model", trust_remote_code=True)
    result[name] = outputs(pipe, in_pipeline)
    result[name]["model_alone"] = outputs(pipe, alone)["slots"]
    result[name]["classes"] = [type(pipe).__name__, type(alone).__name__, type(config).__name__, config.num_slots]
result["imported"] = sorted(m for m in sys.modules if m.split(".")[0] == "mogent_hf")
print(json.dumps(result))
"""
)


def run(code, env, stderr=None):
    """The JSON the code prints last; its standard error goes to the list `stderr` if one is given."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    if stderr is not None:
        stderr.append(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pushed_pipelines_and_models_load_without_the_package_with_the_same_outputs(hub_env, tmp_path):
    installed = run(PUSH, hub_env)
    blocked = run(BLOCKED, dict(hub_env, HF_HOME=str(tmp_path / "another_home")))
    assert blocked.pop("imported") == []
    for name, pipeline, model in (
        ("mogent", "MOGENTPipeline", "MOGENTModel"),
        ("slate", "SLATEPipeline", "SLATEModel"),
    ):
        assert blocked[name].pop("classes") == [pipeline, model, model.replace("Model", "Config"), 3]
        assert blocked[name].pop("model_alone") == installed[name]["slots"]
        assert blocked[name] == installed[name], name
        assert np.asarray(installed[name]["decoded"]).shape == (2, 32, 32, 3)


def test_a_folder_saved_with_code_names_its_files_and_the_installed_package_loads_its_own_classes(tmp_path):
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
    pipe = MOGENTPipeline(model=model, scheduler=MaskGITScheduler(mask_token_id=model.config.mask_token_id))
    pipe.save_pretrained(tmp_path / "plain")
    pipe.save_pretrained(tmp_path / "with-code", push_remote_code=True)
    files = sorted(p.relative_to(tmp_path / "with-code").as_posix() for p in (tmp_path / "with-code").rglob("*.py"))
    assert files == ["configuration_mogent.py", "image_processor/image_processing_mogent.py",
                     "model/configuration_mogent.py", "model/modeling_mogent.py", "modeling_mogent.py",
                     "pipeline_mogent.py", "scheduler/scheduling_maskgit.py"]  # fmt: skip
    assert not list((tmp_path / "plain").rglob("*.py"))
    index = json.loads((tmp_path / "with-code" / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_mogent", "MOGENTPipeline"]
    assert index["model"] == ["modeling_mogent", "MOGENTModel"]
    assert index["scheduler"] == ["scheduling_maskgit", "MaskGITScheduler"]
    assert index["image_processor"] == ["image_processing_mogent", "MOGENTImageProcessor"]
    config = json.loads((tmp_path / "with-code" / "model" / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_mogent.MOGENTConfig",
                                  "AutoModel": "modeling_mogent.MOGENTModel"}  # fmt: skip
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    decoded = []
    for name in ("plain", "with-code"):
        loaded = MOGENTPipeline.from_pretrained(tmp_path / name)
        assert type(loaded.model) is MOGENTModel and type(loaded.scheduler) is MaskGITScheduler
        loaded.set_progress_bar_config(disable=True)
        decoded.append(loaded(images=images, generator=torch.Generator().manual_seed(1), output_type="np").images)
    assert np.array_equal(*decoded)
    assert type(load_slot_pipeline(tmp_path / "with-code")) is MOGENTPipeline  # evaluate.py's loader
    model.save_pretrained(tmp_path / "model", push_remote_code=True)
    assert sorted(p.name for p in (tmp_path / "model").glob("*.py")) == [
        "configuration_mogent.py",
        "modeling_mogent.py",
    ]
    assert type(MOGENTModel.from_pretrained(tmp_path / "model")) is MOGENTModel


def test_bundles_hold_only_the_models_code_without_imports_of_the_package():
    expected = {
        "mogent_hf.configuration_mogent": ["mogent_hf.configuration_mogent"],
        "mogent_hf.scheduling_maskgit": ["mogent_hf.modules.masking", "mogent_hf.scheduling_maskgit"],
    }
    for module in ("mogent_hf.modeling_mogent", "mogent_hf.pipelines.pipeline_slate", *expected):
        source = bundle(module)
        bundled = source.split("from:\n")[1].split(".\nGenerated")[0].split(", ")
        assert bundled[-1] == module and len(set(bundled)) == len(bundled)
        if module in expected:
            assert bundled == expected[module]
        assert not [m for m in bundled if m.startswith(("mogent_hf.data", "mogent_hf.metrics", "mogent_hf.training"))]
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and not (node.module or "").startswith("mogent_hf"), (module, node.module)
            if isinstance(node, ast.Import):
                assert not [alias for alias in node.names if alias.name.startswith("mogent_hf")], module
    nested = 'raise ImportError("this needs the mogent_hf package installed")'
    assert nested in bundle("mogent_hf.modeling_mogent")  # saving with code, from a bundle, needs the package
    assert "mogent_hf.modeling_base" in bundle("mogent_hf.modeling_slate")


def test_a_config_saved_with_the_training_recipe_loads_through_the_models_own_code_without_warnings(tmp_path):
    shipped = MOGENTModel.from_pretrained(CHECKPOINTS / "mogent-small" / "model").eval()
    shipped.save_pretrained(tmp_path, push_remote_code=True)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    with_recipe = json.loads(CONFIG_WITH_RECIPE.read_text())
    (tmp_path / "config.json").write_text(json.dumps({**with_recipe, "auto_map": auto_map}))
    code = (
        WITHOUT_PACKAGE
        + f"""
model = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
slots = model.encode(images, generator=torch.Generator().manual_seed(1)).slots
recipe = [name for name in ("learning_rate", "train_batch_size", "tau_start") if hasattr(model.config, name)]
print(json.dumps({{"slots": slots.tolist(), "recipe": recipe, "class": type(model.config).__name__}}))
"""
    )
    stderr = []
    loaded = run(code, {**os.environ, "HF_HUB_OFFLINE": "1"}, stderr)
    assert loaded["class"] == "MOGENTConfig" and loaded["recipe"] == []
    assert "warn" not in stderr[0].lower(), stderr[0]
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = shipped.encode(images, generator=torch.Generator().manual_seed(1)).slots
    assert torch.equal(torch.tensor(loaded["slots"]), expected)
