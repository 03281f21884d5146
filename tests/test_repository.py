import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_command = next(command for command in commands if "pytest" in command)
    assert test_command in (ROOT / ".ci/run").read_text().splitlines()


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write files; they read the shipped checkpoints as from the repository root
    for name in ("checkpoints", "docs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    readme = (ROOT / "README.md").read_text()
    for code in re.findall(r"```python\n(.*?)```", readme, flags=re.S):
        exec(compile(code, "README.md", "exec"), {})


def readme_commands(script: str) -> list[list[str]]:
    """The README's `python training/<script>` / `accelerate launch training/<script>` commands, as argument lists."""
    import shlex

    readme = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split("&&")[-1].strip()
            words = shlex.split(command)
            if f"training/{script}" in words:
                commands.append(words[words.index(f"training/{script}") + 1 :])
    return commands


def test_readme_is_short_enough_for_a_newcomer():
    assert len((ROOT / "README.md").read_text()) <= 12_000


def test_readme_training_commands_parse_and_the_main_job_runs(tmp_path, monkeypatch):
    """Every train.py command of the README parses; the main job (the one that needs no files) runs, shortened."""
    import sys

    sys.path.append(str(ROOT / "training"))
    import train

    commands = readme_commands("train.py")
    assert ["--preset", "quickstart"] in commands
    for argv in commands:
        train.parse_args(argv)
    monkeypatch.chdir(tmp_path)
    short = [
        "--max_train_steps",
        "3",
        "--validation_steps",
        "3",
        "--num_validation_scenes",
        "4",
        "--num_grid_images",
        "2",
    ]
    try:
        train.main(["--preset", "quickstart", *short])
    finally:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    assert (tmp_path / "runs" / "quickstart" / "model_index.json").exists()


def test_readme_evaluation_commands_run(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "training" / "evaluate.py")
    evaluate_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate_script)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").symlink_to(ROOT / "checkpoints", target_is_directory=True)
    commands = readme_commands("evaluate.py")
    local = [argv for argv in commands if argv[argv.index("--pipelines") + 1].startswith("checkpoints/")]
    assert len(local) == 2
    for argv in commands:
        evaluate_script.parse_args(argv)  # the Hub example parses; the shipped checkpoints' commands run
    for argv in local:
        results = evaluate_script.main([*argv, "--num_images", "8"])
        assert 0 <= next(iter(results.values()))["fg_ari"] <= 1


def test_readme_command_line_examples_run(tmp_path):
    """The README's `mogent-hf` commands, from a folder that sees the repository's checkpoints and docs."""
    import shlex
    import subprocess
    import sys

    for name in ("checkpoints", "docs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    readme = (ROOT / "README.md").read_text()
    commands = [line.split("#")[0] for block in re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
                for line in block.splitlines() if line.startswith("mogent-hf ")]  # fmt: skip
    assert commands
    for command in commands:
        words = shlex.split(command)
        script = Path(sys.executable).parent / "mogent-hf"  # the console script installed with this Python
        subprocess.run([str(script), *words[1:]], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(p.name for p in (tmp_path / "runs" / "segmented").iterdir())
