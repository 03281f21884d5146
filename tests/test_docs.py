"""The user pages and the research record point at files that exist, and the research scripts run from research/."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "demo" / "README.md", ROOT / "research" / "README.md",
         ROOT / "research" / "results_log.md", *sorted((ROOT / "docs").glob("*.md")),
         *sorted((ROOT / "checkpoints").glob("*/README.md"))]  # fmt: skip
# A repository path named in running text: docs/… or research/…, ending in a file name.
REPOSITORY_PATH = re.compile(r"(?<![\w/.])(?:docs|research)/[\w./-]*\w\.(?:py|md|png|sh|json|jsonl)\b")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "research" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_markdown_link_of_a_page_resolves(page):
    links = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [link.split("#")[0] for link in links if not link.startswith(("http://", "https://", "#", "mailto:"))]
    assert [link for link in local if not (page.parent / link).exists()] == []


def test_every_docs_or_research_path_named_in_pages_and_code_exists():
    """Paths in running text (commands, comments, docstrings) are written from the repository root. The full results
    log is left out: it records paths of its time, some of them on the machines that ran the runs."""
    named = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "research" / "README.md",
             *sorted((ROOT / "checkpoints").glob("*/README.md"))]  # fmt: skip
    for folder in ("src", "pipelines", "training", "benchmarks", "demo", "tests", "research/scripts", "research/runs"):
        named += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".md"))
    missing = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in named
        for name in REPOSITORY_PATH.findall(path.read_text())
        if "*" not in name and not (ROOT / name).exists()
    }
    assert sorted(missing) == []


def test_learning_curve_figures_are_drawn_from_the_run_logs_beside_them():
    curves = load_script("make_learning_curves")
    assert curves.RESEARCH == ROOT / "research"
    logs = sorted((curves.RESEARCH / "runs").glob("*.jsonl"))
    for name, prefixes in curves.FIGURES.items():
        assert (curves.RESEARCH / "figures" / name).exists(), name
        assert [p for p in logs if p.stem.startswith(prefixes)], name


def test_figure_and_checkpoint_scripts_find_the_repository_root():
    figure = load_script("make_trained_model_figure")
    assert (figure.ROOT / "checkpoints" / "mogent-small" / "model_index.json").exists()
    assert (figure.ROOT / "docs" / "trained_model.png").exists()
    sys_path = list(sys.path)
    try:
        load_script("make_iteration_checkpoint")  # imports training/train.py through its own sys.path entry
    finally:
        sys.path[:] = sys_path


def test_measurement_scripts_run_from_research_with_their_sibling_imports():
    script = ROOT / "research" / "scripts" / "measure_mask_errors.py"  # imports held_out_scenes and the ceiling script
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "--min_objects" in done.stdout


def test_seed_summary_reads_the_evaluation_outputs_the_results_log_quotes(capsys):
    results = [str(ROOT / "research" / "eval" / f"{run}-6000.json") for run in ("C", "C1", "C2", "C3")]
    summarise = load_script("summarise_seeds")
    sys_argv = sys.argv
    try:
        sys.argv = ["summarise_seeds.py", *results]
        summarise.main()
    finally:
        sys.argv = sys_argv
    table = capsys.readouterr().out
    assert "| fg_ari | 0.665 / 0.495 | 0.493 / 0.588 | 0.696 / 0.459 | 0.640 / 0.484 |" in table  # the log's table


def test_results_page_training_and_evaluation_commands_parse():
    """The commands that reproduce docs/results.md name flags the scripts still take."""
    import shlex

    sys.path.append(str(ROOT / "training"))
    import train

    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "training" / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    page = (ROOT / "docs" / "results.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", page, flags=re.S)
    commands = [shlex.split(line) for block in blocks for line in block.splitlines()]
    parsers = {"training/train.py": train.parse_args, "training/evaluate.py": evaluate.parse_args}
    parsed = [parsers[words[1]](words[2:]) for words in commands if words[:1] == ["python"] and words[1] in parsers]
    assert len(parsed) == 5
