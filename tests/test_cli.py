"""The `mogent-hf` console script: every command on two files with the shipped checkpoint, seeded repeats, folders,
and one `error:` line with exit status 2 for each kind of bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from mogent_hf.cli import DEFAULT_PIPELINE, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SCENES = [str(ROOT / "docs" / "examples" / f"scene_{i}.png") for i in (0, 1)]
NUM_SLOTS = json.loads((DEFAULT_PIPELINE / "model" / "config.json").read_text())["num_slots"]
FAST = ["--num-inference-steps", "2"]


def run(capsys, *argv):
    """main(argv) → (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rgb(path):
    return np.asarray(PIL.Image.open(path))


def test_console_script_segments_a_docs_example_with_one_mask_per_slot(tmp_path):
    script = shutil.which("mogent-hf", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed: pip install -e ."
    result = subprocess.run([script, "segment", SCENES[0], "--out", "out"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert rgb(tmp_path / "out" / "scene_0_overlay.png").shape == (64, 64, 3)
    masks = sorted((tmp_path / "out").glob("scene_0_slot*.png"))
    assert len(masks) == NUM_SLOTS and rgb(masks[0]).shape == (64, 64)
    assert f"{NUM_SLOTS + 1} files written" in result.stdout


def test_help_lists_every_command_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "examples:" in out
    for command in ("segment", "reconstruct", "edit", "remove", "compose"):
        assert f"mogent-hf {command} " in out


def test_segment_two_files_writes_overlays_masks_and_label_maps(capsys, tmp_path):
    wide = tmp_path / "wide.png"  # 48×80: the model sees the centred 48×48 square, columns 16:64
    PIL.Image.open(SCENES[1]).resize((80, 48)).save(wide)
    status, out, err = run(capsys, "segment", SCENES[0], wide, "--out", tmp_path / "out", "--labels", "npy", "json")
    assert status == 0 and "2/2" in err  # the progress bar over files
    labels = np.load(tmp_path / "out" / "scene_0_labels.npy")
    assert labels.shape == (64, 64) and 0 <= labels.min() and labels.max() < NUM_SLOTS
    record = json.loads((tmp_path / "out" / "wide_labels.json").read_text())
    assert record["num_slots"] == NUM_SLOTS
    assert rgb(tmp_path / "out" / "wide_overlay.png").shape == (48, 80, 3)  # at the input's size by default
    assert rgb(tmp_path / "out" / "wide_slot0.png").shape == (48, 80)
    at_input = np.array(record["labels"])
    assert at_input.shape == (48, 80) and (at_input[:, :16] == -1).all() and (at_input[:, 16:64] >= 0).all()
    outside = rgb(tmp_path / "out" / "wide_overlay.png")[:, :16]  # not seen by the model: left uncoloured
    assert np.abs(outside.astype(int) - rgb(wide)[:, :16].astype(int)).max() <= 1
    run(capsys, "segment", wide, "--out", tmp_path / "model", "--labels", "npy", "--model-size")
    assert np.load(tmp_path / "model" / "wide_labels.npy").shape == (64, 64)
    assert rgb(tmp_path / "model" / "wide_overlay.png").shape == (64, 64, 3)


@pytest.mark.parametrize(
    "command, extra, outputs",
    [
        ("reconstruct", ["--mask-ratio", "0.5"], ["scene_0_reconstruction.png", "scene_1_reconstruction.png"]),
        ("edit", ["--swap", "1", "2", "--swap", "0", "0"], ["scene_0_edited.png", "scene_1_edited.png"]),
        ("remove", ["--slot", "3"], ["scene_0_removed.png", "scene_1_removed.png"]),
        ("compose", ["--num-images", "3"], ["composed_0.png", "composed_1.png", "composed_2.png"]),
    ],
)
def test_each_decoding_command_on_two_files_is_seeded(capsys, tmp_path, command, extra, outputs):
    for folder, seed in (("a", 0), ("b", 0), ("c", 1)):
        status, out, err = run(capsys, command, *SCENES, "--out", tmp_path / folder, "--seed", seed, *FAST, *extra)
        assert status == 0, err
        assert sorted(path.name for path in (tmp_path / folder).iterdir()) == outputs
    for name in outputs:
        assert rgb(tmp_path / "a" / name).shape == (64, 64, 3)
        assert np.array_equal(rgb(tmp_path / "a" / name), rgb(tmp_path / "b" / name))  # same seed, same picture
    assert any(not np.array_equal(rgb(tmp_path / "a" / n), rgb(tmp_path / "c" / n)) for n in outputs)


def test_folders_are_expanded_and_repeated_names_kept_apart(capsys, tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        shutil.copy(SCENES[0], tmp_path / folder / "scene.png")
    (tmp_path / "one" / "notes.txt").write_text("skipped: not an image extension")
    status, _, err = run(capsys, "segment", tmp_path / "one", tmp_path / "two", "--out", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "scene_overlay.png").exists() and (tmp_path / "out" / "scene_2_overlay.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["segment", "missing.png"], "no such file or folder: missing.png"),
        (["segment", "{notes}"], "notes.png is not an image file"),
        (["segment", "{empty}"], "no image files in folder"),
        (["remove", SCENES[0], "--slot", str(NUM_SLOTS)], f"`--slot` must be a slot index in [0, {NUM_SLOTS}), got"),
        (["edit", *SCENES, "--swap", "0", "-1"], "`--swap J` must be a slot index"),
        (["edit", SCENES[0], "{two}", "--swap", "0", "0"], "pairs the images of its two inputs: got 1 and 2"),
        (["reconstruct", SCENES[0], "--mask-ratio", "1.5"], "--mask-ratio must be in [0, 1], got 1.5"),
        (["reconstruct", SCENES[0], "--num-inference-steps", "0"], "--num-inference-steps must be >= 1, got 0"),
        (["segment", SCENES[0], "--pipeline", "{empty}"], "is not a saved pipeline (no model_index.json)"),
        (["segment", SCENES[0], "--pipeline", "/no/such/dir"], "--pipeline /no/such/dir: no such folder"),
        (["segment", SCENES[0], "--pipeline", "./no-such-dir/x"], "--pipeline ./no-such-dir/x: no such folder"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_status_2(capsys, tmp_path, argv, message):
    (tmp_path / "notes.png").write_text("a text file with an image name")
    (tmp_path / "empty").mkdir()
    (tmp_path / "one").mkdir()
    shutil.copy(SCENES[0], tmp_path / "one" / "a.png")
    shutil.copy(SCENES[1], tmp_path / "one" / "b.png")
    names = {"notes": tmp_path / "notes.png", "empty": tmp_path / "empty", "two": tmp_path / "one"}
    status, out, err = run(capsys, *[arg.format(**names) for arg in argv], "--out", tmp_path / "out")
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("argv", [["--help"], ["segment", "--help"], ["reconstruct", SCENES[0], "--mask-ratio", "2"]])
def test_help_and_argument_mistakes_answer_without_importing_torch(argv, tmp_path):
    """What makes them answer at once: the package and the command import torch, transformers and diffusers only
    once every argument has been checked."""
    check = (
        "import sys\nfrom mogent_hf.cli import main\ntry:\n    status = main(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    status = e.code\nheavy = sorted({'torch', 'transformers', 'diffusers'} & set(sys.modules))\n"
        "print('heavy:', heavy, 'status:', status)"
    )
    result = subprocess.run([sys.executable, "-c", check, *argv], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert "heavy: [] status:" in result.stdout, result.stdout + result.stderr
    assert result.stdout.strip().endswith("status: 0" if "--help" in argv else "status: 2")


def test_the_default_pipeline_is_the_shipped_checkpoint_and_its_help_says_what_it_knows(capsys):
    assert (DEFAULT_PIPELINE / "model_index.json").is_file()
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert "synthetic CLEVR-like scenes" in capsys.readouterr().out


def test_segment_labels_are_the_pipelines_segment_at_the_input_size(capsys, tmp_path):
    import torch
    from mogent_hf.pipelines.pipeline_utils import MASK_SOURCES

    from mogent_hf import load_slot_pipeline

    wide = tmp_path / "wide.png"
    PIL.Image.open(SCENES[1]).resize((80, 48)).save(wide)
    pipe = load_slot_pipeline(DEFAULT_PIPELINE)
    for source in (None, "slot_attention"):  # the pipeline's default source, and one given
        extra = [] if source is None else ["--mask-source", source]
        status, _, err = run(capsys, "segment", wide, "--out", tmp_path / str(source), "--labels", "npy", *extra)
        assert status == 0, err
        expected = pipe.segment(str(wide), torch.Generator().manual_seed(0), to_input_size=True, mask_source=source)
        assert np.array_equal(np.load(tmp_path / str(source) / "wide_labels.npy"), expected[0].numpy())
    action = next(a for a in build_parser()._subparsers._group_actions[0].choices["segment"]._actions
                  if a.dest == "mask_source")  # fmt: skip
    assert tuple(action.choices) == MASK_SOURCES  # the CLI's list (kept free of imports) follows the pipelines'


def test_the_decoding_commands_use_the_fast_setting_by_default(capsys, tmp_path):
    import torch

    from mogent_hf import load_slot_pipeline

    status, _, err = run(capsys, "reconstruct", SCENES[0], "--out", tmp_path)
    assert status == 0, err
    pipe = load_slot_pipeline(DEFAULT_PIPELINE)
    expected = pipe(images=SCENES[0], mask_ratio=0.5, generator=torch.Generator().manual_seed(0),
                    num_inference_steps=12, cache_interval=4, output_type="np").images[0]  # fmt: skip
    assert np.array_equal(rgb(tmp_path / "scene_0_reconstruction.png"), (expected * 255).round().astype(np.uint8))
