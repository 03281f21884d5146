"""The training and evaluation scripts as a user meets them: one `error:` line and exit status 2 for a mistake,
Ctrl-C that saves and tells how to resume, help for every option, and the schedules a run actually follows."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mogent_hf.script_support import run_command

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "training"))
import train  # noqa: E402
from test_training import TINY, fresh_accelerate_state  # noqa: E402, F401  (the same tiny run and state reset)

pytestmark = pytest.mark.usefixtures("fresh_accelerate_state")


def command_error(main, argv, capsys) -> str:
    """Runs `main(argv)` as its script's command line does; returns the one stderr line of the exit-2 error."""
    with pytest.raises(SystemExit) as exit_info:
        run_command(lambda: main(argv), prog="script")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert ": error: " in err[-1]
    return err[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--synthetic", "clevr", "--resolution", "63"], "`--resolution` must be a multiple of 4"),
        (["--resolution", "63"], "`--resolution` must be a multiple of 4"),  # the flag's mistake, not the data's
        (["--preset", "tiny"], "a data source is needed: give one of --synthetic"),
        (["--dataset_name", "/no/such/dataset/dir"], "/no/such/dataset/dir"),
        (["--synthetic", "clevr", "--output_dir", __file__], "`--output_dir` must be a directory"),
        (["--synthetic", "clevr", "--max_train_steps", "0"], "`--max_train_steps` must be >= 1"),
        (["--synthetic", "shapes3d", "--min_objects", "2"], "apply to --synthetic clevr only"),
    ],
)
def test_a_mistake_in_the_training_flags_ends_in_one_error_line_and_exit_2(argv, message, capsys, tmp_path):
    line = command_error(train.main, ["--output_dir", str(tmp_path / "out"), *argv], capsys)
    assert message in line


def test_a_mistake_in_the_evaluation_or_data_flags_ends_in_one_error_line_and_exit_2(capsys, tmp_path):
    from mogent_hf.data.__main__ import main as data_main

    evaluate_script = load_evaluate_script()
    missing = str(tmp_path / "no-such-pipeline")
    assert missing in command_error(evaluate_script.main, ["--pipelines", missing, "--synthetic", "clevr"], capsys)
    line = command_error(data_main, ["make", "--kind", "clevr", "--num-train", "0", "--out", str(tmp_path)], capsys)
    assert "--num-train" in line


def test_an_argparse_mistake_is_one_line_not_the_usage_block(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--seed", "one"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "error: argument --seed: invalid int value: 'one'" in err[0] and "--help" in err[0]


def test_a_bug_keeps_its_traceback():
    def buggy():
        raise ValueError("not a user's mistake")

    with pytest.raises(ValueError, match="not a user's mistake"):
        run_command(buggy)


def load_evaluate_script():
    """training/evaluate.py as a module of another name than the `evaluate` library."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "training" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_option_of_the_scripts_has_help_text_and_shows_its_default():
    from mogent_hf.data.__main__ import build_parser as data_parser

    parsers = {"train.py": train.build_parser(), "evaluate.py": load_evaluate_script().build_parser()}
    parsers["data make"] = data_parser()._subparsers._group_actions[0].choices["make"]
    for name, parser in parsers.items():
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and len(action.help.split()) >= 2, f"{name} {action.option_strings[0]}: no help"
        text = parser.format_help()
        assert "(default: " in text, name


def logged_steps(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "logs.jsonl").read_text().splitlines()]


LAUNCHERS = {"python": [sys.executable], "accelerate launch": [sys.executable, "-m", "accelerate.commands.launch"]}


def as_run_here(command: str) -> list[str]:
    """A printed command line → what runs it in this environment (this interpreter, its accelerate)."""
    words = shlex.split(command)
    if words[:2] == ["accelerate", "launch"]:
        return [*LAUNCHERS["accelerate launch"], *words[2:]]
    assert words[0] == "python", command
    return [sys.executable, *words[1:]]


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_ctrl_c_saves_and_the_printed_resume_command_ends_with_the_uninterrupted_weights(tmp_path, launcher):
    """Interrupted under `python` or `accelerate launch` (which set different thread counts), the run resumes with
    the command it prints (same launcher, same threads) and ends bit-exact with an uninterrupted run."""
    common = [*TINY, "--max_train_steps", "24", "--validation_steps", "1", "--checkpointing_steps", "100"]
    interrupted = tmp_path / "interrupted"
    argv = [*common, "--output_dir", str(interrupted), "--resume_from_checkpoint", "latest"]
    process = subprocess.Popen([*LAUNCHERS[launcher], "training/train.py", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (interrupted / "logs.jsonl").exists() or len(logged_steps(interrupted)) < 3:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert "No checkpoint in" in stderr  # `latest` with nothing to resume says so on the console
    checkpoints = sorted(interrupted.glob("checkpoint-*"))
    assert len(checkpoints) == 1
    step = int(checkpoints[0].name.split("-")[1])
    assert 3 <= step < 24
    assert f"Stopped at step {step} of 24" in stdout
    command = stdout.split("Resume with:")[1].strip().splitlines()[0]
    assert command.startswith(launcher + " training/train.py ") and command.endswith("--resume_from_checkpoint latest")
    threads = shlex.split(command)[shlex.split(command).index("--num_threads") + 1]
    assert threads == os.environ["OMP_NUM_THREADS"]  # what either launcher passed on (conftest fixes it)

    subprocess.run(as_run_here(command), cwd=ROOT, check=True, capture_output=True, timeout=300)
    straight = [*LAUNCHERS[launcher], "training/train.py", *common, "--output_dir", str(tmp_path / "straight"),
                "--num_threads", threads]  # fmt: skip
    subprocess.run(straight, cwd=ROOT, check=True, capture_output=True, timeout=300)
    resumed, uninterrupted = (
        load_file(tmp_path / name / "model" / "model.safetensors") for name in ("interrupted", "straight")
    )
    for key in uninterrupted:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=0, msg=key)
    assert [line["loss"] for line in logged_steps(interrupted)] == [
        line["loss"] for line in logged_steps(tmp_path / "straight")
    ]


def test_the_resume_command_keeps_the_launcher_and_the_thread_count(monkeypatch):
    argv = ["--preset", "tiny", "--num_threads", "2", "--resume_from_checkpoint=x", "--seed", "1"]
    monkeypatch.delenv("ACCELERATE_DYNAMO_BACKEND", raising=False)
    plain = "python training/train.py --preset tiny --seed 1 --num_threads 3 --resume_from_checkpoint latest"
    assert train.resume_command(argv, num_threads=3) == plain
    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "NO")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert train.resume_command(argv, num_threads=1, num_processes=2) == (
        "accelerate launch --num_processes 2 --mixed_precision bf16 training/train.py --preset tiny --seed 1 "
        "--num_threads 1 --resume_from_checkpoint latest"
    )


def test_the_schedules_a_run_follows_tau_sigma_and_both_learning_rates(tmp_path):
    pretrain, annealing, warmup, total, cooldown = 3, 5, 3, 12, 2
    train.main([*TINY, "--output_dir", str(tmp_path), "--max_train_steps", str(total), "--validation_steps", "12",
                "--dvae_pretrain_steps", str(pretrain), "--lr_cooldown_steps", str(cooldown)])  # fmt: skip
    recipe = json.loads((tmp_path / "training_args.json").read_text())  # the recipe as run
    assert (recipe["tau_annealing_steps"], recipe["sigma_annealing_steps"], recipe["warmup_steps"]) == (5, 5, 3)
    lines = logged_steps(tmp_path)
    assert [line["step"] for line in lines] == list(range(1, total + 1))
    tau, sigma = [line["tau"] for line in lines], [line["sigma"] for line in lines]
    # τ: from tau_start, falling strictly (through the DVAE-only phase too) to tau_end at the end of annealing
    assert tau[0] == recipe["tau_start"] > recipe["tau_end"]
    assert all(a > b for a, b in zip(tau[:annealing], tau[1 : annealing + 1]))
    assert tau[annealing:] == pytest.approx([recipe["tau_end"]] * (total - annealing))
    # σ: held at sigma_start through the DVAE-only phase, then falling strictly to 0 over the annealing steps
    assert sigma[: pretrain + 1] == [recipe["sigma_start"]] * (pretrain + 1)
    assert recipe["sigma_start"] > 0
    assert all(
        a > b for a, b in zip(sigma[pretrain : pretrain + annealing], sigma[pretrain + 1 : pretrain + annealing + 1])
    )
    assert sigma[pretrain + annealing :] == pytest.approx([0.0] * (total - pretrain - annealing))
    # learning rates: 0 in the DVAE-only phase, linear warm-up after it, linear cool-down over the last steps
    warm = [0.0] * pretrain + [min((step - pretrain) / warmup, 1.0) for step in range(pretrain, total)]
    cool = [min((total - step) / cooldown, 1.0) for step in range(total)]
    assert [line["lr"] for line in lines] == pytest.approx(
        [recipe["learning_rate"] * w * c for w, c in zip(warm, cool)]
    )
    assert [line["dvae_lr"] for line in lines] == pytest.approx([recipe["dvae_learning_rate"] * c for c in cool])


def test_the_quickstart_ends_with_its_metrics_next_to_the_measured_ones():
    lines = train.expectation_lines({"fg_ari": 0.25, "mbo": 0.125}, {"fg_ari": 0.5, "mbo": 0.45}).splitlines()
    assert lines[1].split() == ["fg_ari", "0.250", "|", "0.500"]
    assert lines[2].split() == ["mbo", "0.125", "|", "0.450"]
    assert set(train.QUICKSTART["expected"]) == {"fg_ari", "mbo", "codes_in_use"}


def test_num_threads_auto_takes_omp_num_threads_else_the_idle_cores(monkeypatch):
    from mogent_hf import script_support

    monkeypatch.setattr(script_support.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(script_support.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert script_support.resolve_num_threads("auto") == 3
    assert script_support.resolve_num_threads(2) == 2  # an explicit count wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    for busy, threads in (((0, 0, 0, 0), 4), ((100, 0, 0, 0), 3), ((100, 100, 60, 0), 1), ((100,) * 4, 1)):
        samples = iter([{c: (0, 0) for c in range(4)}, {c: (100 - b, 100) for c, b in enumerate(busy)}])
        monkeypatch.setattr(script_support, "cpu_times", lambda samples=samples: next(samples))
        assert script_support.resolve_num_threads("auto") == threads, busy  # the cores the others leave idle

    def no_proc_stat():
        raise OSError("no /proc/stat")

    monkeypatch.setattr(script_support, "cpu_times", no_proc_stat)
    monkeypatch.setattr(script_support.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert script_support.resolve_num_threads("auto") == 3  # the load average stands in
    with pytest.raises(SystemExit):
        train.parse_args(["--num_threads", "0"])


def test_cpu_times_reads_idle_and_total_jiffies_per_cpu(tmp_path):
    from mogent_hf.script_support import cpu_times

    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 4 0 2 40 4 0 0 0 0 0\ncpu1 6 0 3 40 1 0 0 0 0 0\nintr 1 2\n")
    assert cpu_times(str(stat)) == {0: (44, 50), 1: (41, 50)}
