"""training/train.py and mogent_hf.training_utils: schedules, data order, atomic checkpoints, exact resume, DDP,
push to the Hub with a model card, and early errors on bad arguments."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file

from mogent_hf.training_utils import (
    PlateauHalver,
    StepBatchSampler,
    codes_in_use,
    cosine_anneal,
    finalize_checkpoint,
    linear_cooldown,
    linear_warmup,
    list_checkpoints,
    partial_checkpoint_dir,
    prune_checkpoints,
    resolve_num_steps,
    slot_usage,
)

ROOT = Path(__file__).resolve().parents[1]
# Appended, not prepended: training/evaluate.py must not shadow the `evaluate` library for the other tests.
sys.path.append(str(ROOT / "training"))
import train  # noqa: E402


def load_evaluate_script():
    """training/evaluate.py as a module of another name than the `evaluate` library."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "training" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A fast tiny run: absolute warm-up/annealing so that runs of different lengths share their schedules.
TINY = ["--preset", "tiny", "--synthetic", "clevr", "--num_train_scenes", "64", "--num_validation_scenes", "8",
        "--train_batch_size", "4", "--lr_warmup_steps", "3", "--annealing_steps", "5", "--num_grid_images", "2",
        "--seed", "3"]  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    from accelerate.state import AcceleratorState, GradientState, PartialState

    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def run(output_dir, *extra):
    return train.main([*TINY, "--output_dir", str(output_dir), *extra])


def losses(output_dir):
    lines = [json.loads(line) for line in (Path(output_dir) / "logs.jsonl").read_text().splitlines()]
    return [(line["step"], line["loss"], line["cross_entropy"]) for line in lines]


# ---- schedules -------------------------------------------------------------------------------------------------
def test_cosine_anneal_goes_from_start_to_end_along_half_a_cosine():
    assert cosine_anneal(0, 1.0, 0.1, 100) == 1.0
    assert cosine_anneal(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert cosine_anneal(25, 1.0, 0.1, 100) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    assert cosine_anneal(100, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert cosine_anneal(10_000, 1.0, 0.0, 100) == 0.0
    assert cosine_anneal(5, 1.0, 0.0, 0) == 0.0


def test_linear_warmup_ramps_from_zero_then_stays_at_one():
    assert [linear_warmup(s, 4) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert linear_warmup(3, 4, start_step=5) == 0.0 and linear_warmup(7, 4, start_step=5) == 0.5
    assert linear_warmup(0, 0) == 1.0


def test_linear_cooldown_stays_at_one_then_falls_to_zero_over_the_last_steps():
    assert [linear_cooldown(s, 6, 4) for s in range(7)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert [linear_cooldown(s, 3, 0) for s in range(3)] == [1.0, 1.0, 1.0]
    assert linear_cooldown(0, 3, 10) == 0.3  # a cool-down longer than the run starts below 1


def test_step_counts_are_absolute_or_fractions_of_the_run():
    assert resolve_num_steps("5%", 2000, "x") == 100
    assert resolve_num_steps("0.15", 2000, "x") == 300
    assert resolve_num_steps("3000", 2000, "x") == 3000
    for bad in ("abc", "-1", "2.5"):
        with pytest.raises(ValueError, match="`x`"):
            resolve_num_steps(bad, 100, "x")


def test_plateau_halver_halves_after_patience_evaluations_without_improvement():
    plateau = PlateauHalver(patience=2)
    assert [plateau.update(v) for v in (1.0, 0.9, 0.95, 0.9, 0.91, 0.92)] == [1, 1, 1, 0.5, 0.5, 0.25]
    copy = PlateauHalver(patience=2)
    copy.load_state_dict(plateau.state_dict())
    assert copy.update(0.95) == plateau.update(0.95)


# ---- data order ------------------------------------------------------------------------------------------------
def test_batch_sampler_is_a_pure_function_of_seed_and_batch_number():
    full = list(StepBatchSampler(10, 3, seed=7, num_batches=9))
    assert list(StepBatchSampler(10, 3, seed=7, start_batch=4, num_batches=5)) == full[4:]
    assert full != list(StepBatchSampler(10, 3, seed=8, num_batches=9))
    for epoch in range(3):  # 3 batches per epoch of 10 rows: 9 distinct rows, the 10th dropped
        assert len(set(sum(full[3 * epoch : 3 * epoch + 3], []))) == 9


def test_batch_sampler_shards_each_global_batch_across_processes():
    single = list(StepBatchSampler(40, 8, seed=1, num_batches=6))
    ranks = [list(StepBatchSampler(40, 4, seed=1, num_processes=2, rank=r, num_batches=6)) for r in (0, 1)]
    for batch in range(5):
        assert not set(ranks[0][batch]) & set(ranks[1][batch])
        assert ranks[0][batch] + ranks[1][batch] == single[batch]
    with pytest.raises(ValueError, match="fewer than one global batch"):
        StepBatchSampler(7, 4, seed=0, num_processes=2)


# ---- checkpoints -----------------------------------------------------------------------------------------------
def test_checkpoints_are_listed_and_pruned_by_step_number_not_by_name(tmp_path):
    for step in (9, 10, 100, 2):
        (tmp_path / f"checkpoint-{step}").mkdir()
    partial_checkpoint_dir(tmp_path, 200).mkdir()
    (tmp_path / "checkpoint_0").mkdir()  # accelerate's automatic naming: not ours
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-9", "checkpoint-10",
                                                            "checkpoint-100"]  # fmt: skip
    prune_checkpoints(tmp_path, 2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-10", "checkpoint-100"]
    finalize_checkpoint(tmp_path, 200)
    assert list_checkpoints(tmp_path)[-1].name == "checkpoint-200"


def test_health_statistics_of_codes_and_slots():
    assert codes_in_use(torch.tensor([[1, 1, 5], [5, 7, 1]])) == 3
    masks = torch.zeros(2, 3, 4, 4)
    masks[0, 0] = 1  # image 0: slot 0 everywhere
    masks[1, 1, :2] = 1  # image 1: slots 1 and 2 share it
    masks[1, 2, 2:] = 1
    usage = slot_usage(masks)
    assert usage["slots_used"] == 1.5 and usage["largest_slot_fraction"] == 0.75


# ---- the training script ---------------------------------------------------------------------------------------
def test_a_run_writes_checkpoints_samples_metrics_and_a_loadable_pipeline(tmp_path):
    from mogent_hf import MOGENTPipeline

    run(tmp_path, "--max_train_steps", "6", "--checkpointing_steps", "2", "--checkpoints_total_limit", "2",
        "--validation_steps", "3")  # fmt: skip
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-4", "checkpoint-6"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step-000003.png", "step-000006.png"]
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["step"] == 6 and 0.0 <= results["fg_ari"] <= 1.0 and results["codes_in_use"] >= 1
    pipe = MOGENTPipeline.from_pretrained(tmp_path)
    assert pipe.segment(torch.rand(2, 3, 32, 32)).shape == (2, 32, 32)


def test_stop_and_resume_gives_the_same_weights_and_losses_as_an_uninterrupted_run(tmp_path):
    common = ("--checkpointing_steps", "4", "--validation_steps", "3", "--gradient_accumulation_steps", "2")
    run(tmp_path / "straight", "--max_train_steps", "8", *common)
    run(tmp_path / "resumed", "--max_train_steps", "4", *common)
    run(tmp_path / "resumed", "--max_train_steps", "8", "--resume_from_checkpoint", "latest", *common)
    straight, resumed = (load_file(tmp_path / name / "model" / "model.safetensors") for name in ("straight", "resumed"))
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0, msg=key)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    assert len(losses(tmp_path / "straight")) == 8


def test_a_crash_during_a_save_leaves_the_previous_checkpoint_as_latest(tmp_path, monkeypatch):
    real_write = train.write_training_state

    def crash_at_step_4(directory, state):
        if state["global_step"] == 4:
            raise RuntimeError("simulated crash while saving")
        real_write(directory, state)

    monkeypatch.setattr(train, "write_training_state", crash_at_step_4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, "--max_train_steps", "6", "--checkpointing_steps", "2")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-2"]
    monkeypatch.setattr(train, "write_training_state", real_write)
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    run(tmp_path, "--max_train_steps", "6", "--checkpointing_steps", "2", "--resume_from_checkpoint", "latest")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert not list(tmp_path.glob(".tmp-checkpoint-*"))
    assert [step for step, *_ in losses(tmp_path)] == [1, 2, 3, 4, 5, 6]
    AcceleratorState._reset_state(True)
    (tmp_path / "eval_results.json").unlink()
    run(tmp_path, "--max_train_steps", "6", "--resume_from_checkpoint", "latest")  # nothing left: export + validate
    assert json.loads((tmp_path / "eval_results.json").read_text())["step"] == 6


def test_slate_trains_through_the_same_script(tmp_path):
    from mogent_hf import SLATEPipeline

    run(tmp_path, "--model_type", "slate", "--max_train_steps", "2", "--validation_steps", "2")
    assert isinstance(SLATEPipeline.from_pretrained(tmp_path), SLATEPipeline)


def test_two_process_cpu_ddp_run_ends_with_identical_weights_on_both_ranks(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(ROOT / "training")!r})
        import train
        from accelerate.state import PartialState
        model = train.main(sys.argv[1:])
        state = PartialState()
        torch.save(model.state_dict(), {str(tmp_path)!r} + f"/rank{{state.process_index}}.pt")
        assert state.num_processes == 2, state.num_processes
    """)
    )
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
               "29517", str(script), *TINY, "--output_dir", str(tmp_path / "out"), "--max_train_steps", "3",
               "--validation_steps", "3", "--checkpointing_steps", "3"]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for key in ranks[0]:
        torch.testing.assert_close(ranks[1][key], ranks[0][key], rtol=0, atol=0, msg=key)
    assert {p.name for p in (tmp_path / "out" / "checkpoint-3").glob("random_states_*")} == {
        "random_states_0.pkl",
        "random_states_1.pkl",
    }


def test_push_to_hub_uploads_the_pipeline_and_a_card_with_metrics(tmp_path, hub_env):
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "training" / "train.py"), *TINY, "--output_dir", str(out),
               "--max_train_steps", "2", "--checkpointing_steps", "1", "--push_to_hub", "--hub_model_id",
               "org/trained-tiny"]  # fmt: skip
    result = subprocess.run(command, env=hub_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    check = textwrap.dedent("""
        import json
        from huggingface_hub import HfApi, ModelCard
        from mogent_hf import MOGENTPipeline
        pipe = MOGENTPipeline.from_pretrained("org/trained-tiny")
        card = ModelCard.load("org/trained-tiny")
        files = HfApi().list_repo_files("org/trained-tiny")
        results = {r.metric_type: r.metric_value for r in card.data.eval_results}
        print(json.dumps({"files": files, "results": results, "text": card.text}))
    """)
    result = subprocess.run([sys.executable, "-c", check], env=hub_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    pushed = json.loads(result.stdout.strip().splitlines()[-1])
    assert not [f for f in pushed["files"] if f.startswith("checkpoint-")]
    assert {"model_index.json", "model/model.safetensors", "README.md", "samples.png"} <= set(pushed["files"])
    local = json.loads((out / "eval_results.json").read_text())
    assert pushed["results"] == {key: round(local[key], 4) for key in ("fg_ari", "miou", "fg_miou", "mbo")}
    assert 'MOGENTPipeline.from_pretrained("org/trained-tiny")' in pushed["text"]


def test_fine_tuning_starts_from_the_weights_of_a_trained_pipeline_or_model_and_the_recipe_it_recorded(tmp_path):
    run(tmp_path / "base", "--max_train_steps", "2", "--validation_steps", "2", "--tau_end", "0.05",
        "--max_grad_norm", "0.5")  # fmt: skip
    base = load_file(tmp_path / "base" / "model" / "model.safetensors")
    data = [arg for arg in TINY if arg not in ("--preset", "tiny")]
    frozen = ["--learning_rate", "0", "--dvae_learning_rate", "0", "--tau_start", "0.1", "--max_train_steps", "1"]
    from mogent_hf import MOGENTModel

    MOGENTModel.from_pretrained(tmp_path / "base" / "model").save_pretrained(tmp_path / "saved-model")
    for source, name in ((tmp_path / "base", "from-pipeline"), (tmp_path / "saved-model", "from-model")):
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(True)
        train.main([*data, *frozen, "--pretrained_model_name_or_path", str(source),
                    "--output_dir", str(tmp_path / name)])  # fmt: skip
        tuned = load_file(tmp_path / name / "model" / "model.safetensors")
        assert tuned.keys() == base.keys()
        for key in base:  # learning rate 0: the weights it started from come out unchanged
            torch.testing.assert_close(tuned[key], base[key], rtol=0, atol=0, msg=key)
        recipe = json.loads((tmp_path / name / "training_args.json").read_text())
        assert recipe["tau_start"] == 0.1 and recipe["learning_rate"] == 0 and recipe["train_batch_size"] == 4
        # not given: the base pipeline's recipe (its training_args.json); a model saved alone has none: the defaults
        expected = (0.05, 0.5) if name == "from-pipeline" else (0.1, 1.0)
        assert (recipe["tau_end"], recipe["max_grad_norm"]) == expected, name
        config = json.loads((tmp_path / name / "model" / "config.json").read_text())
        assert not {"tau_start", "tau_end", "learning_rate", "train_batch_size"} & set(config)
        assert f"initialised from `{source}`" in (tmp_path / name / "README.md").read_text()
    assert "preset `tiny`" in (tmp_path / "base" / "README.md").read_text()


def test_fine_tuning_with_the_mixture_loss_adds_a_fresh_mixture_decoder_and_logs_its_loss(tmp_path):
    run(tmp_path / "base", "--max_train_steps", "2", "--validation_steps", "2")
    base = load_file(tmp_path / "base" / "model" / "model.safetensors")
    data = [arg for arg in TINY if arg not in ("--preset", "tiny")]
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    train.main([*data, "--pretrained_model_name_or_path", str(tmp_path / "base"), "--mixture_loss_weight", "0.5",
                "--learning_rate", "0", "--dvae_learning_rate", "0", "--max_train_steps", "2",
                "--output_dir", str(tmp_path / "tuned")])  # fmt: skip
    tuned = load_file(tmp_path / "tuned" / "model" / "model.safetensors")
    added = set(tuned) - set(base)
    assert added and all(key.startswith("mixture_decoder.") for key in added) and set(base) <= set(tuned)
    for key in base:  # learning rate 0: the trained weights come out unchanged
        torch.testing.assert_close(tuned[key], base[key], rtol=0, atol=0, msg=key)
    assert json.loads((tmp_path / "tuned" / "model" / "config.json").read_text())["mixture_loss_weight"] == 0.5
    logs = [json.loads(line) for line in (tmp_path / "tuned" / "logs.jsonl").read_text().splitlines()]
    assert all(line["mixture_cross_entropy"] > 0 for line in logs)
    assert all(
        line["mixture_cross_entropy"] == 0
        for line in map(json.loads, (tmp_path / "base" / "logs.jsonl").read_text().splitlines())
    )


def test_fine_tuning_with_a_background_slot_adds_only_its_position_embedding_freshly_drawn(tmp_path):
    mixture = ("--mixture_loss_weight", "0.5", "--no-mixture_decoder_positions")
    run(tmp_path / "base", *mixture, "--max_train_steps", "2", "--validation_steps", "2")
    base = load_file(tmp_path / "base" / "model" / "model.safetensors")
    data = [arg for arg in TINY if arg not in ("--preset", "tiny")]
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    train.main([*data, "--pretrained_model_name_or_path", str(tmp_path / "base"), *mixture,
                "--mixture_background_slot", "1", "--learning_rate", "0", "--dvae_learning_rate", "0",
                "--max_train_steps", "2", "--output_dir", str(tmp_path / "tuned")])  # fmt: skip
    tuned = load_file(tmp_path / "tuned" / "model" / "model.safetensors")
    assert set(tuned) - set(base) == {"mixture_decoder.position_embedding"} and set(base) <= set(tuned)
    assert tuned["mixture_decoder.position_embedding"].std() > 0.5  # drawn by _init_weights, not left at zero
    for key in base:
        torch.testing.assert_close(tuned[key], base[key], rtol=0, atol=0, msg=key)
    assert json.loads((tmp_path / "tuned" / "model" / "config.json").read_text())["mixture_background_slot"] == 1


def test_the_saved_config_holds_the_code_entropy_weight_of_the_last_step(tmp_path):
    entropy = ("--codebook_entropy_weight", "0.01", "--max_train_steps", "3", "--validation_steps", "3")
    for name, annealing_steps, expected in (("annealed", "2", 0.0), ("halfway", "6", 0.005), ("constant", "0", 0.01)):
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(True)
        run(tmp_path / name, *entropy, "--codebook_entropy_annealing_steps", annealing_steps)
        config = json.loads((tmp_path / name / "model" / "config.json").read_text())
        assert config["codebook_entropy_weight"] == pytest.approx(expected, abs=1e-12), name
        recipe = json.loads((tmp_path / name / "train_config.json").read_text())
        assert recipe["codebook_entropy_weight"] == 0.01  # the run's flags as given


def test_the_cooldown_decays_both_learning_rates_over_the_last_steps(tmp_path):
    run(tmp_path, "--max_train_steps", "4", "--validation_steps", "4", "--lr_cooldown_steps", "2")
    recipe = json.loads((tmp_path / "training_args.json").read_text())
    lines = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines()]
    lines = [line for line in lines if "lr" in line]
    warmup, cooldown = [0.0, 1 / 3, 2 / 3, 1.0], [1.0, 1.0, 1.0, 0.5]  # 3 warm-up steps, 2 cool-down steps of 4
    # pytest.approx compares flat sequences only (pytest >= 9 refuses nested ones): one list per learning rate
    expected_lr = [recipe["learning_rate"] * w * c for w, c in zip(warmup, cooldown)]
    assert [line["lr"] for line in lines] == pytest.approx(expected_lr)
    assert [line["dvae_lr"] for line in lines] == pytest.approx([recipe["dvae_learning_rate"] * c for c in cooldown])


def test_the_mixture_weight_anneals_after_the_dvae_phase_and_the_saved_config_keeps_it(tmp_path):
    run(tmp_path, "--mixture_loss_weight", "1.0", "--no-mixture_decoder_positions", "--dvae_pretrain_steps", "1",
        "--mixture_loss_annealing_steps", "2", "--max_train_steps", "4", "--validation_steps", "4")  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines() if '"loss"' in line]
    assert [line["mixture_loss_weight"] for line in lines] == pytest.approx([1.0, 1.0, 0.5, 0.0])
    for line in lines[1:]:  # after the DVAE-only step: the weighted mixture is part of the loss
        objective = (
            line["dvae_mse"] + line["cross_entropy"] + line["mixture_loss_weight"] * line["mixture_cross_entropy"]
        )
        assert line["loss"] == pytest.approx(objective, rel=1e-4)
    assert lines[-1]["mixture_cross_entropy"] > 0  # still measured at weight 0
    assert json.loads((tmp_path / "model" / "config.json").read_text())["mixture_loss_weight"] == 1.0


def test_slot_distillation_ramps_its_weight_and_adds_its_term_to_the_loss(tmp_path):
    run(tmp_path, "--slot_distillation_weight", "0.5", "--slot_distillation_ramp_steps", "2", "--dvae_pretrain_steps",
        "1", "--max_train_steps", "4", "--validation_steps", "4")  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines() if '"loss"' in line]
    assert [line["slot_distillation_weight"] for line in lines] == pytest.approx([0.0, 0.0, 0.25, 0.5])
    for line in lines[2:]:  # on after the DVAE-only step and the ramp's first step (weight 0: nothing computed)
        objective = line["dvae_mse"] + line["cross_entropy"] + line["slot_distillation_weight"] * line[
            "slot_distillation_cross_entropy"]  # fmt: skip
        assert line["loss"] == pytest.approx(objective, rel=1e-4)
    assert all("slot_distillation_cross_entropy" not in line for line in lines[:2])
    assert "validation/background_split" in lines[-1]


def test_a_frozen_teacher_is_loaded_once_and_read_at_every_step(tmp_path):
    run(tmp_path / "teacher", "--max_train_steps", "1", "--validation_steps", "1")
    reads = []
    real = train.teacher_masks

    def counted(teacher, pixel_values, block):
        assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
        reads.append(block)
        return real(teacher, pixel_values, block)

    with mock.patch.object(train, "teacher_masks", counted):
        run(tmp_path / "student", "--slot_distillation_weight", "0.5", "--slot_distillation_teacher",
            str(tmp_path / "teacher"), "--slot_distillation_block", "mean", "--max_train_steps", "2",
            "--validation_steps", "2")  # fmt: skip
    assert reads == [None, None]  # the blocks' mean, at both steps
    lines = [json.loads(line) for line in (tmp_path / "student" / "logs.jsonl").read_text().splitlines()]
    assert all(line["slot_distillation_cross_entropy"] > 0 for line in lines if '"loss"' in line)
    with pytest.raises(ValueError, match="needs `--slot_distillation_weight` > 0"):
        run(tmp_path / "x", "--slot_distillation_teacher", str(tmp_path / "teacher"))


def test_slot_distillation_is_off_by_default_and_refused_for_slate(tmp_path):
    args = train.parse_args(["--synthetic", "clevr"])
    defaults = (args.slot_distillation_weight, args.slot_distillation_ramp_steps, args.slot_distillation_block)
    assert defaults == (0, 0, -1)
    mean = train.parse_args(["--synthetic", "clevr", "--slot_distillation_block", "mean"])
    assert mean.slot_distillation_block is None
    with pytest.raises(ValueError, match="applies to --model_type mogent only"):
        train.main(["--model_type", "slate", "--synthetic", "clevr", "--slot_distillation_weight", "0.1",
                    "--output_dir", str(tmp_path)])  # fmt: skip


def test_fine_tuning_finds_the_model_in_a_pipeline_or_a_model_repository_on_the_hub(tmp_path, hub_env):
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT / "training")!r})
        from huggingface_hub import create_repo, upload_folder
        from mogent_hf import MOGENTConfig, MOGENTModel, pipeline_for_model
        from train import pretrained_location
        model = MOGENTModel(MOGENTConfig.from_preset("tiny"))
        pipeline_for_model(model).save_pretrained({str(tmp_path / "pipe")!r})
        model.save_pretrained({str(tmp_path / "model")!r})
        for name in ("pipe", "model"):
            create_repo(f"org/{{name}}")
            upload_folder(repo_id=f"org/{{name}}", folder_path={str(tmp_path)!r} + "/" + name)
        locations = [pretrained_location(f"org/{{name}}") for name in ("pipe", "model")]
        same = [all(tensor.equal(model.state_dict()[key]) for key, tensor in
                    MOGENTModel.from_pretrained(**location).state_dict().items()) for location in locations]
        print(json.dumps([[location["subfolder"] for location in locations], same]))
    """)
    result = subprocess.run([sys.executable, "-c", script], env=hub_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [["model", ""], [True, True]]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--num_slots", "3"], "--num_slots would change the architecture"),
        (["--resolution", "64"], "--resolution would change the architecture"),
        (["--model_type", "slate"], "holds a MOGENTConfig, but --model_type slate needs a SLATEConfig"),
        (["--preset", "tiny"], "give --preset or --pretrained_model_name_or_path, not both"),
    ],
)
def test_fine_tuning_refuses_flags_that_do_not_fit_the_pretrained_model(tmp_path, extra, message):
    from mogent_hf import MOGENTConfig, MOGENTModel

    MOGENTModel(MOGENTConfig.from_preset("tiny")).save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match=re.escape(message)):
        train.main(["--synthetic", "clevr", "--pretrained_model_name_or_path", str(tmp_path / "model"), *extra,
                    "--output_dir", str(tmp_path / "out")])  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--preset", "huge", "--synthetic", "clevr"], "invalid choice: 'huge'"),
        (["--synthetic", "clevr", "--dataset_name", "x"], "not allowed with argument"),
        (["--synthetic", "clevr", "--resolution", "30"], "`--resolution` must be a multiple of 4"),
        (["--synthetic", "shapes3d"], "renders 64 px images"),
        (["--synthetic", "clevr", "--lr_cooldown_steps", "soon"], "`lr_cooldown_steps` must be a step count"),
        (["--model_type", "slate", "--synthetic", "clevr", "--zero_mask_init"], "only apply to --model_type mogent"),
        (["--synthetic", "clevr", "--mixture_loss_annealing_steps", "5"], "needs a mixture loss"),
        (["--synthetic", "clevr", "--tau_start", "0.05"], "need `tau_start` >= `tau_end` > 0"),
    ],
)
def test_bad_arguments_fail_before_training_with_a_clear_message(tmp_path, arguments, message, capsys):
    with pytest.raises((SystemExit, ValueError)) as error:
        train.main([*arguments, "--output_dir", str(tmp_path)])
    text = str(error.value) + capsys.readouterr().err
    assert message in text
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("model_type", ["mogent", "slate"])
def test_model_flags_reach_the_config(model_type):
    arguments = ["--model_type", model_type, "--synthetic", "clevr", "--normalize_decoder_input", "--num_heads", "2"]
    config = train.build_config(train.parse_args(arguments))
    assert (config.normalize_decoder_input, config.num_heads) == (True, 2)
    assert train.build_config(train.parse_args(arguments[:4])).normalize_decoder_input is False  # the preset's


def test_a_missing_dataset_column_fails_before_training(tmp_path):
    from mogent_hf.data import make_synthetic_dataset, save_as_hub_layout

    save_as_hub_layout(make_synthetic_dataset("clevr", 4, 2, resolution=32), tmp_path / "data")
    with pytest.raises(ValueError, match="'segmentation' is not a column"):
        train.main(["--dataset_name", str(tmp_path / "data"), "--mask_column", "segmentation",
                    "--output_dir", str(tmp_path / "out")])  # fmt: skip
    assert not (tmp_path / "out").exists()


# ---- training/evaluate.py ----------------------------------------------------------------------------------------
def test_evaluate_help_documents_every_option():
    result = subprocess.run([sys.executable, str(ROOT / "training" / "evaluate.py"), "--help"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    evaluate_script = load_evaluate_script()

    parser_options = {"--pipelines", "--inception_weights", "--lpips_weights", "--mask_ratios", "--sweep_steps",
                      "--sweep_temperatures", "--composition", "--num_generated", "--dtype", "--synthetic"}  # fmt: skip
    assert all(option in result.stdout for option in parser_options)
    assert callable(evaluate_script.main)


def test_evaluate_prints_the_tables_of_two_trained_pipelines_from_the_run(tmp_path, capsys):
    evaluate_script = load_evaluate_script()
    sys.path.append(str(ROOT / "tests"))
    from test_metrics import TinyInception

    run(tmp_path / "mogent", "--max_train_steps", "2", "--validation_steps", "2")
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    run(tmp_path / "slate", "--model_type", "slate", "--max_train_steps", "2", "--validation_steps", "2")
    torch.jit.script(TinyInception()).save(str(tmp_path / "inception.pt"))
    results = evaluate_script.main([
        "--pipelines", str(tmp_path / "mogent"), str(tmp_path / "slate"), "--synthetic", "clevr", "--num_images", "8",
        "--num_generated", "10", "--inception_weights", str(tmp_path / "inception.pt"), "--mask_ratios", "0.5",
        "--sweep_steps", "1", "2", "--output_dir", str(tmp_path / "eval"), "--batch_size", "4",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| metric | mogent | slate |" in printed and "| fg_ari |" in printed and "| fid |" in printed
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["results"]["mogent"]["fg_ari"] == results["mogent"]["fg_ari"]
    assert f"{results['slate']['mbo']:.4f}" in printed
    assert [p["value"] for p in saved["sweeps"]["mogent"]["steps"]] == [1, 2]
    assert (tmp_path / "eval" / "steps_fid.png").exists()
    assert results["slate"]["generation_ms_per_image"] > 0 and "| generation_ms_per_image |" in printed
    for name in ("mogent", "slate"):  # the default --mask_sources: Slot Attention's and the combined masks
        assert {"fg_ari", "mbo", "background_split", "fg_ari@combined", "mbo@combined"} <= set(results[name])
    assert "| fg_ari@combined |" in printed and "| background_split |" in printed


def test_evaluate_scores_each_mask_source_as_segment_gives_it(tmp_path):
    evaluate_script = load_evaluate_script()
    run(tmp_path / "mogent", "--max_train_steps", "1", "--validation_steps", "1")
    sources = ["--mask_sources", "decoder", "slot_attention", "--decoder_block", "-1"]
    args = evaluate_script.parse_args(["--pipelines", str(tmp_path / "mogent"), "--synthetic", "clevr", *sources])
    pipe = evaluate_script.load_pipeline(str(tmp_path / "mogent"), "cpu", torch.float32)
    from mogent_hf.data import SyntheticScenes

    images, masks = SyntheticScenes("clevr", 4, 32, seed=0, split="test").arrays()
    images = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    results = evaluate_script.segmentation(pipe, images, torch.from_numpy(masks), args)
    from mogent_hf.metrics import segmentation_metrics

    expected = segmentation_metrics(pipe.segment(images, mask_source="decoder", decoder_block=-1).numpy(), masks)
    assert results["fg_ari@decoder"] == expected["fg_ari"] and results["mbo@decoder"] == expected["mbo"]
    labels = pipe.segment(images, mask_source="slot_attention").numpy()
    expected = segmentation_metrics(labels, masks)
    assert results["fg_ari"] == expected["fg_ari"] and "fg_ari@combined" not in results
    from mogent_hf.metrics import shared_label_share

    assert results["objects_sharing_a_slot"] == shared_label_share(labels, masks)
    keys = evaluate_script.segmentation_keys(["slot_attention", "combined"])
    assert keys[:6] == list(evaluate_script.SEGMENTATION) and keys[6] == "fg_ari@combined"
