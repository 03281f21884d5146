"""Datasets by Hub id through the loopback Hub: `python -m mogent_hf.data make --push-to-hub`, then `load_dataset`
(also streaming, also offline from the cache), train.py and evaluate.py with `--dataset_name org/name`, each in a
fresh process; clear errors for a missing repository, split or column; the dataset card's metadata."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPO = "org/scenes-tiny"


def hub_environment(fake_hub, home: Path) -> dict:
    """A fresh process's environment: the loopback Hub, its own Hub and datasets caches under `home`."""
    env = dict(os.environ)
    env.update(HF_ENDPOINT=fake_hub.endpoint, HF_TOKEN="test-token", HF_HOME=str(home / "hf_home"),
               HF_DATASETS_CACHE=str(home / "datasets"), HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0")  # fmt: skip
    return env


def run(args: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def run_code(code: str, env: dict) -> subprocess.CompletedProcess:
    return run(["-c", textwrap.dedent(code)], env)


@pytest.fixture(scope="module")
def pushed(fake_hub, tmp_path_factory):
    """The CLI renders 12 + 4 clevr scenes at 32 px into a local folder and pushes them to REPO."""
    folder = tmp_path_factory.mktemp("scenes")
    env = hub_environment(fake_hub, tmp_path_factory.mktemp("pusher"))
    made = run(["-m", "mogent_hf.data", "make", "--kind", "clevr", "--num-train", "12", "--num-test", "4",
                "--resolution", "32", "--seed", "5", "--out", folder / "local", "--push-to-hub", REPO],
               env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    return folder / "local"


LOAD = """
import json, datasets, numpy as np
rows = {}
for streaming in (False, True):
    split = datasets.load_dataset("REPO_ID", split="train", streaming=streaming)
    rows[streaming] = [(np.asarray(row["image"]).tolist(), np.asarray(row["mask"]).tolist(), row["num_objects"])
                       for row in split]
print(json.dumps({"rows": rows[False], "same_streaming": rows[False] == rows[True]}))
""".replace("REPO_ID", REPO)


def test_a_pushed_dataset_loads_by_repo_id_streams_and_loads_offline_from_the_cache(pushed, fake_hub, tmp_path):
    import datasets

    local = datasets.load_dataset(str(pushed), split="train")
    expected = [(np.asarray(r["image"]).tolist(), np.asarray(r["mask"]).tolist(), r["num_objects"]) for r in local]
    env = hub_environment(fake_hub, tmp_path)
    online = run_code(LOAD, env)
    assert online.returncode == 0, online.stderr[-3000:]
    assert "Ignoring part of dataset_info" not in online.stderr  # the card's dataset_info is complete
    loaded = json.loads(online.stdout.strip().splitlines()[-1])
    assert [tuple(row) for row in loaded["rows"]] == [tuple(row) for row in expected] and len(expected) == 12
    assert loaded["same_streaming"]
    offline_env = dict(env, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    offline = run_code(LOAD.replace("(False, True)", "(False,)").replace("rows[True]", "rows[False]"), offline_env)
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert json.loads(offline.stdout.strip().splitlines()[-1])["rows"] == loaded["rows"]


def test_missing_repo_split_or_column_is_one_clear_error(pushed, fake_hub, tmp_path):
    code = """
    from mogent_hf.data import load_image_dataset
    for kwargs in (dict(name_or_path="org/no-such-scenes"), dict(name_or_path="REPO_ID", split="validation"),
                   dict(name_or_path="REPO_ID", image_column="picture")):
        try:
            load_image_dataset(**kwargs)
        except (FileNotFoundError, ValueError) as error:
            print(type(error).__name__, error)
    """.replace("REPO_ID", REPO)
    result = run_code(code, hub_environment(fake_hub, tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    missing_repo, missing_split, missing_column = result.stdout.strip().splitlines()[-3:]
    assert missing_repo.startswith("FileNotFoundError dataset 'org/no-such-scenes' is neither a local directory nor")
    assert missing_split == f"ValueError `split` 'validation' is not a split of '{REPO}': ['train', 'test']"
    assert missing_column.startswith(f"ValueError `image_column` 'picture' is not a column of '{REPO}': ['image'")


def test_train_and_evaluate_read_a_dataset_by_repo_id_in_fresh_processes(pushed, fake_hub, tmp_path):
    env = hub_environment(fake_hub, tmp_path)
    out = tmp_path / "run"
    trained = run([ROOT / "training" / "train.py", "--dataset_name", REPO, "--num_validation_scenes", "4",
                   "--train_batch_size", "4", "--max_train_steps", "2", "--num_grid_images", "2",
                   "--output_dir", out], env)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert json.loads((out / "train_config.json").read_text())["dataset_name"] == REPO
    card = (out / "README.md").read_text()
    assert f"datasets:\n- {REPO}\n" in card and "fg_ari" in card  # the Hub dataset's masks gave segmentation metrics
    evaluated = run([ROOT / "training" / "evaluate.py", "--pipelines", out, "--dataset_name", REPO, "--num_images",
                     "4", "--num_validation_scenes", "4", "--mask_ratios", "0.5", "--output_dir", tmp_path / "eval"],
                    env)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert "fg_ari" in json.dumps(results) and "mse@0.5" in json.dumps(results)


def test_the_dataset_card_holds_features_splits_sizes_and_the_renderer_and_passes_validation(pushed, fake_hub):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(pushed / "README.md")
    data = card.data.to_dict()
    assert data["dataset_info"]["features"][:2] == [{"name": "image", "dtype": "image"},
                                                    {"name": "mask", "dtype": {"image": {"mode": "L"}}}]  # fmt: skip
    assert [(s["name"], s["num_examples"]) for s in data["dataset_info"]["splits"]] == [("train", 12), ("test", 4)]
    assert all(split["num_bytes"] > 0 for split in data["dataset_info"]["splits"])
    assert data["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"},
                                                {"split": "test", "path": "data/test-*"}]  # fmt: skip
    assert data["mogent_hf_renderer"] == {"kind": "clevr", "resolution": 32, "seed": 5, "test_split": "seed 1000008",
                                          "parameters": {}}  # fmt: skip
    assert data["size_categories"] == ["n<1K"] and data["license"] == "mit"
    assert "--seed 5 --num-train 12 --num-test 4" in card.text
    broken = str(card).replace("num_examples: 12", "num_examples: twelve")
    assert validate_cards([str(card), broken], "dataset", hub_environment(fake_hub, pushed.parent)) == [
        "valid",
        "ValueError",
    ]


VALIDATE = """
import json, sys
from huggingface_hub import RepoCard
outcomes = []
for text in json.load(sys.stdin)["cards"]:
    try:
        RepoCard(text).validate(repo_type=sys.argv[1])
        outcomes.append("valid")
    except ValueError as error:
        outcomes.append("ValueError")
print(json.dumps(outcomes))
"""


def validate_cards(cards: list[str], repo_type: str, env: dict) -> list[str]:
    """huggingface_hub's card validation (`RepoCard.validate`, a POST to the Hub) of each card, in a process that
    talks to the loopback Hub: "valid" or "ValueError" (rejected) each."""
    result = subprocess.run([sys.executable, "-c", VALIDATE, repo_type], input=json.dumps({"cards": cards}), env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
