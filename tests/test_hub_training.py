"""A run on the Hub while it trains (training/hub_sync.py): `--hub_strategy checkpoint` pushes the pipeline and the
checkpoint; a run killed on one machine resumes on another from the Hub (`--resume_from_checkpoint <repo id>`) to the
same weights as an uninterrupted run; a failed upload warns, is retried at the next save and never stops the run."""

import json
import logging
import shutil
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "training"))
sys.path.append(str(ROOT / "tests"))
import train  # noqa: E402
from hub_sync import HubSync, fetch_hub_checkpoint  # noqa: E402
from test_hub_data import hub_environment  # noqa: E402
from test_training import TINY, fresh_accelerate_state  # noqa: E402, F401  (autouse: a fresh accelerate state)

STEPS = ["--max_train_steps", "4", "--checkpointing_steps", "2", "--validation_steps", "4"]


def test_a_run_killed_after_pushing_a_checkpoint_resumes_from_the_hub_to_the_weights_of_an_uninterrupted_run(
    fake_hub, tmp_path
):
    repo = "org/preemptible-run"
    env = hub_environment(fake_hub, tmp_path / "machine-a")
    first = tmp_path / "machine-a" / "out"
    command = [sys.executable, str(ROOT / "training" / "train.py"), *TINY, *STEPS, "--output_dir", str(first),
               "--push_to_hub", "--hub_model_id", repo, "--hub_strategy", "checkpoint"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pushed = {}

    def kill_after_the_first_checkpoint(repo_type, repo_id, files):
        if repo_id == repo and "last-checkpoint/training_state.json" in files and not pushed:
            process.kill()  # the machine goes away as soon as the Hub holds a checkpoint
            pushed.update(files)

    fake_hub.commit_hooks.append(kill_after_the_first_checkpoint)
    try:
        stderr = process.communicate(timeout=300)[1]
    finally:
        fake_hub.commit_hooks.remove(kill_after_the_first_checkpoint)
    assert process.returncode == -9, stderr[-3000:]  # killed, not finished
    assert json.loads(pushed["last-checkpoint/training_state.json"])["global_step"] == 2
    assert {"model_index.json", "model/model.safetensors", "README.md", "last-checkpoint/optimizer.bin",
            "pipeline_mogent.py", "model/modeling_mogent.py"} <= set(pushed)  # with its code  # fmt: skip
    shutil.rmtree(tmp_path / "machine-a")  # nothing of the first machine is left

    second = tmp_path / "machine-b"
    resumed = subprocess.run([*command[:-7], "--output_dir", str(second), "--resume_from_checkpoint", repo],
                             env=hub_environment(fake_hub, tmp_path / "cache-b"), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [json.loads(line)["step"] for line in (second / "logs.jsonl").read_text().splitlines()] == [3, 4]
    train.main([*TINY, *STEPS, "--output_dir", str(tmp_path / "straight")])
    straight = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    weights = load_file(second / "model" / "model.safetensors")
    assert straight.keys() == weights.keys()
    for key in straight:
        torch.testing.assert_close(weights[key], straight[key], rtol=0, atol=0, msg=key)


def test_resuming_from_a_hub_repo_without_a_checkpoint_or_from_a_missing_repo_says_so(fake_hub, tmp_path):
    code = f"""
import sys; sys.path.append({str(ROOT / "training")!r})
from argparse import Namespace
from pathlib import Path
from huggingface_hub import HfApi
from hub_sync import fetch_hub_checkpoint
HfApi().create_repo("org/no-checkpoint", exist_ok=True)
for hub_model_id, output_dir in (("org/no-checkpoint", "unused"), (None, "runs/never-pushed")):
    args = Namespace(hub_model_id=hub_model_id, output_dir=output_dir, hub_token=None)
    try:
        fetch_hub_checkpoint("hub", args, Path({str(tmp_path / "out")!r}))
    except FileNotFoundError as error:
        print(error)
"""
    result = subprocess.run([sys.executable, "-c", code], env=hub_environment(fake_hub, tmp_path), capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines() == [
        "`--resume_from_checkpoint` hub: the Hub repository org/no-checkpoint has no last-checkpoint/ (push one with "
        "--hub_strategy checkpoint)",
        "`--resume_from_checkpoint` hub: no Hub repository tester/never-pushed",  # the token's namespace
    ]


def test_local_paths_and_latest_are_not_taken_for_hub_ids(tmp_path):
    for value in (None, "latest", str(tmp_path), "runs/missing/checkpoint-2"):
        assert fetch_hub_checkpoint(value, None, tmp_path) == value


class FlakyApi:
    """HfApi's methods HubSync uses; uploads fail while `failures` > 0. Futures complete at once, in order."""

    def __init__(self, failures: int):
        self.failures, self.uploads = failures, []

    def create_repo(self, repo_id, exist_ok):
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, repo_id, folder_path, commit_message, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the Hub is unreachable")
        self.uploads.append((commit_message, sorted(p.relative_to(folder_path).as_posix()
                                                    for p in Path(folder_path).rglob("*") if p.is_file())))  # fmt: skip

    def run_as_future(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:
            future.set_exception(error)
        return future


def test_a_failed_upload_warns_and_is_retried_at_the_next_save_without_stopping_the_run(tmp_path, caplog):
    sync = HubSync("org/run", "checkpoint")
    sync.api = FlakyApi(failures=1)
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (checkpoint / "training_state.json").write_text("{}")

    def write_pipeline(folder, location):
        (folder / "README.md").write_text(location)

    with caplog.at_level(logging.WARNING, logger="hub_sync"):
        sync.on_save(2, checkpoint, write_pipeline)  # fails in the background
        assert sync.api.uploads == [] and "failed" not in caplog.text
        sync.on_save(4, checkpoint, write_pipeline)
    assert "the upload of step 2 to org/run failed (the Hub is unreachable); retrying with step 4" in caplog.text
    assert sync.api.uploads == [("Training step 4", ["README.md", "last-checkpoint/training_state.json"])]
    sync.on_end(tmp_path, 4)
    assert [message for message, _ in sync.api.uploads] == ["Training step 4", "Training step 4"]
    sync.api.failures = 1
    with pytest.raises(ConnectionError):  # the final push, after the run, does raise
        sync.on_end(tmp_path, 4)


def test_hub_strategy_must_be_known_and_needs_push_to_hub(tmp_path, capsys):
    with pytest.raises(ValueError, match="`--hub_strategy` must be one of"):
        HubSync("org/run", "sometimes")
    with pytest.raises(SystemExit) as exit_info:
        train.main([*TINY, "--max_train_steps", "1", "--output_dir", str(tmp_path), "--hub_strategy", "checkpoint"])
    assert exit_info.value.code == 2
    assert "error: --hub_strategy checkpoint pushes to the Hub: it needs --push_to_hub" in capsys.readouterr().err


def test_every_save_pushes_the_pipeline_without_the_checkpoint_and_end_pushes_nothing_during_the_run(tmp_path):
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (checkpoint / "training_state.json").write_text("{}")
    pushed = {}
    for strategy in ("every_save", "end"):
        sync = HubSync("org/run", strategy)
        sync.api = FlakyApi(failures=0)
        sync.on_save(2, checkpoint, lambda folder, location: (folder / "README.md").write_text(location))
        pushed[strategy] = sync.api.uploads
    assert pushed == {"every_save": [("Training step 2", ["README.md"])], "end": []}
