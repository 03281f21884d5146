"""A built wheel works outside the repository: installed into a fresh virtual environment, `mogent-hf segment` runs
from another folder with the default model that the wheel carries (package data), offline."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import PIL.Image

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_installed_in_a_fresh_venv_segments_a_photo_with_its_own_default_model(tmp_path):
    from mogent_hf.cli import DEFAULT_PIPELINE_NAME

    setup_py = (ROOT / "setup.py").read_text()
    assert f'DEFAULT_PIPELINE = "{DEFAULT_PIPELINE_NAME}"' in setup_py  # the wheel carries the CLI's default
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=600)  # fmt: skip
    wheel = next((tmp_path / "dist").glob("mogent_hf-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # the dependencies from this environment (a .pth line adds its site-packages, whose own .pth files, the
    # editable install of the repository among them, are not read); the package itself from the wheel only
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=600)  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    photo = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)  # any picture is accepted
    PIL.Image.fromarray(photo).save(elsewhere / "photo.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    where = subprocess.run([str(python), "-c", "import mogent_hf.cli as c; print(c.__file__, c.DEFAULT_PIPELINE)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    module, default = where.split()
    assert module.startswith(str(venv)) and default.startswith(str(venv)), where  # not the repository's copy
    result = subprocess.run([str(venv / "bin" / "mogent-hf"), "segment", "photo.png", "--labels", "json"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((elsewhere / "mogent-hf-outputs" / "photo_labels.json").read_text())
    assert record["shape"] == [90, 120]
    assert PIL.Image.open(elsewhere / "mogent-hf-outputs" / "photo_overlay.png").size == (120, 90)
