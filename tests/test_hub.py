"""Pipelines through the loopback Hub: push, load by repo id in fresh processes, offline from the cache."""

import subprocess
import sys
import textwrap

import numpy as np

GENERATE = """
pipe.set_progress_bar_config(disable=True)
images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
out = pipe(images=images, mask_ratio=0.5, generator=torch.Generator().manual_seed(1), output_type="np")
np.save(sys.argv[1], out.images)
"""

PUSH = (
    """
import sys, numpy as np, torch
from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline
torch.manual_seed(0)
model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
pipe = MOGENTPipeline(model=model, scheduler=MaskGITScheduler(mask_token_id=model.config.mask_token_id))
pipe.push_to_hub("org/mogent-tiny")
"""
    + GENERATE
)

LOAD = (
    """
import sys, numpy as np, torch
from mogent_hf import MOGENTPipeline
pipe = MOGENTPipeline.from_pretrained("org/mogent-tiny")
"""
    + GENERATE
)

MISSING = """
from mogent_hf import MOGENTPipeline
MOGENTPipeline.from_pretrained("org/does-not-exist")
"""


def run(code, env, *args):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_pipeline_push_then_load_by_repo_id_in_fresh_processes_and_offline(hub_env, tmp_path):
    original, first, second = tmp_path / "original.npy", tmp_path / "first.npy", tmp_path / "second.npy"
    pushed = run(PUSH, hub_env, original)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    loaded = run(LOAD, hub_env, first)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    offline = dict(hub_env, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    cached = run(LOAD, offline, second)
    assert cached.returncode == 0, cached.stderr[-3000:]
    assert np.array_equal(np.load(original), np.load(first))
    assert np.array_equal(np.load(first), np.load(second))
    assert np.load(first).shape == (2, 32, 32, 3)


def test_missing_repo_gives_a_clear_error(hub_env):
    missing = run(MISSING, hub_env)
    assert missing.returncode != 0
    assert "RepositoryNotFound" in missing.stderr or "does-not-exist" in missing.stderr.splitlines()[-1]
