"""The benchmarks' FLOP counting, against torch's own count of the same attention written as matmuls."""

import json
import subprocess

import pytest
import torch
import torch.nn.functional as F
from generation import sdpa_flops
from torch.utils.flop_counter import FlopCounterMode


def counted(fn) -> int:
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_flops_equal_those_of_the_matmuls_it_replaces(causal):
    query, key, value = (torch.randn(2, 3, 10, 8) for _ in range(3))
    sdpa = counted(lambda: F.scaled_dot_product_attention(query, key, value, is_causal=causal))

    def as_matmuls():  # row i sees keys 0..i when causal, all keys otherwise
        for i in range(query.shape[-2]):
            seen = slice(0, i + 1) if causal else slice(None)
            weights = (query[..., i : i + 1, :] @ key[..., seen, :].transpose(-1, -2)).softmax(-1)
            weights @ value[..., seen, :]

    assert sdpa == counted(as_matmuls) > 0


def test_attention_benchmark_splits_the_decode_time_and_times_sdpa_per_head_size(tmp_path, capsys):
    import attention

    result = attention.main(["--resolution", "16", "--head_sizes", "8", "16", "--repeats", "1", "--precisions", "fp32",
                             "bf16", "--output", str(tmp_path / "attention.json")])  # fmt: skip
    for row in result["profile"].values():
        assert sum(row["share"].values()) == pytest.approx(1.0)
        assert row["seconds"]["attention (SDPA)"] > 0 and row["seconds"]["matmul"] > 0
    assert [(row["dtype"], row["head_size"]) for row in result["sdpa"]] == [
        ("float32", 8), ("float32", 16), ("bfloat16", 8), ("bfloat16", 16)]  # fmt: skip
    assert all(row["ms"] > 0 and row["share_of_matmul_peak"] > 0 for row in result["sdpa"])
    assert (tmp_path / "attention.json").exists() and "SDPA alone, 16 queries" in capsys.readouterr().out


def test_generation_cases_follow_the_chosen_presets():
    from argparse import Namespace

    from generation import cases

    def chosen(presets):
        found = cases(Namespace(resolutions=[32, 64], batch_sizes=[1, 32], presets=presets))
        return [(case["figure"], case["preset"], case["resolution"], case["batch"]) for case in found]

    assert chosen(["clevr"]) == [("table1", "clevr", 128, 1), ("table1", "clevr", 128, 32)]
    assert chosen(["3dshapes", "clevr"]) == [
        ("figure2", "3dshapes", 32, 1), ("figure2", "3dshapes", 64, 1), ("table1", "3dshapes", 64, 32),
        ("table1", "clevr", 128, 1), ("table1", "clevr", 128, 32)]  # fmt: skip
    assert chosen(["3dshapes"]) == chosen(["3dshapes", "clevr"])[:3]


def test_gumbel_noise_benchmark_times_both_noises_alone_and_in_train_steps(tmp_path):
    from unittest import mock

    import gumbel_noise
    import torch.nn.functional as F

    with mock.patch.object(F, "gumbel_softmax", wraps=F.gumbel_softmax) as before:
        result = gumbel_noise.main(["--quick", "--output", str(tmp_path / "gumbel.json")])
    assert [row["what"] for row in result["rows"]] == ["noise alone", "mogent train step", "slate train step"]
    assert before.call_count == 4  # the "before" steps of both models: one warm-up and one timed call each
    for row in result["rows"]:
        assert len(row["seconds"]["before"]) == len(row["seconds"]["after"]) == 1 and row["speedup"] > 0
    assert (tmp_path / "gumbel.json").exists()


def test_benchmark_cases_run_in_a_fresh_process_and_a_dying_one_is_reported():
    import math
    import os

    from generation import in_fresh_process

    assert in_fresh_process(math.sqrt, 16.0) == 4.0
    assert in_fresh_process(os.getpid) != os.getpid()
    assert in_fresh_process(os.getpid, isolate=False) == os.getpid()  # --no-isolate: in this process
    assert in_fresh_process(os._exit, 1) is None  # as when the kernel kills the row for memory


def test_paired_ratio_alternates_the_decoders_and_reports_each_pairs_ratio(tmp_path):
    from unittest import mock

    import paired_ratio

    arguments = ["--preset", "3dshapes", "--resolution", "16", "--numerator", "slate_kv", "--pairs", "3"]
    with mock.patch.object(paired_ratio, "time_decode", wraps=paired_ratio.time_decode) as timed:
        result = paired_ratio.main([*arguments, "--no-isolate", "--output", str(tmp_path / "pairs.json")])
    modes = [call.args[0] for call in timed.call_args_list]
    assert modes == ["mogent", "slate_kv", "slate_kv", "mogent", "mogent", "slate_kv"]  # ABBA: drift hits both
    assert all(call.args[1:] == ("3dshapes", 16, "fp32", "cpu", {}) for call in timed.call_args_list)
    for pair in result["pairs"]:
        assert pair["ratio"] == pair["seconds"]["slate_kv"] / pair["seconds"]["mogent"] > 0
    summary = result["summary"]
    assert summary["median_ratio"] == sorted(pair["ratio"] for pair in result["pairs"])[1]
    assert summary["min_ratio"] <= summary["median_ratio"] <= summary["max_ratio"]
    assert json.loads((tmp_path / "pairs.json").read_text()) == result


def test_paired_ratio_can_give_slate_another_head_count(tmp_path):
    from unittest import mock

    import paired_ratio

    arguments = ["--preset", "3dshapes", "--resolution", "16", "--numerator", "slate_kv", "--pairs", "1"]
    with mock.patch.object(paired_ratio, "make_pipeline", wraps=paired_ratio.make_pipeline) as made:
        result = paired_ratio.main(
            [*arguments, "--slate_num_heads", "2", "--no-isolate", "--output", str(tmp_path / "pairs.json")]
        )
    heads = {call.args[0]: call.kwargs for call in made.call_args_list}
    assert heads == {"mogent": {}, "slate": {"num_heads": 2}}  # SLATE alone changes
    assert (result["case"]["slate_num_heads"], result["case"]["mogent_num_heads"]) == (2, 8)
    with pytest.raises(ValueError, match="num_heads"):  # before anything is timed
        paired_ratio.main([*arguments, "--slate_num_heads", "5", "--no-isolate", "--output", str(tmp_path / "x.json")])


def test_paired_ratio_rejects_a_decoder_compared_with_itself():
    import paired_ratio

    with pytest.raises(SystemExit):
        paired_ratio.main(["--numerator", "mogent", "--denominator", "mogent"])


def test_bf16_rows_are_timed_by_default_only_where_the_device_runs_bf16_natively(tmp_path, capsys, cpu_reports):
    import train_step

    argv = ["--quick", "--dropout", "off", "--no-isolate", "--output", str(tmp_path / "t.json")]
    cpu_reports("AVX2", False, False)
    assert [row["precision"] for row in train_step.main(argv)["rows"]] == ["fp32", "fp32"]
    out = capsys.readouterr().out
    assert "bf16 rows skipped (--precisions bf16 times them anyway): bf16 is not native on this CPU (AVX2)" in out
    cpu_reports("AVX512", True, False)
    assert [row["precision"] for row in train_step.main(argv)["rows"]] == ["fp32", "fp32", "bf16", "bf16"]


def test_the_matmul_peak_shrinks_its_size_to_a_time_budget():
    from unittest import mock

    import generation

    sizes = []
    real_matmul = torch.Tensor.__matmul__

    def recorded(a, b):
        sizes.append(a.shape[0])
        return real_matmul(a, b)

    with mock.patch.object(torch.Tensor, "__matmul__", recorded):
        assert generation.matmul_peak(torch.float32, torch.device("cpu"), max_size=512, budget_s=1e9) > 0
        assert max(sizes) == 512  # doubled up to the cap within the budget
        sizes.clear()
        generation.matmul_peak(torch.float32, torch.device("cpu"), max_size=2048, budget_s=0.0)
        assert set(sizes) == {256}  # over the budget at once: stays at the smallest size


def test_train_step_times_both_models_per_row_and_can_leave_out_the_dropout_rows(tmp_path):
    from unittest import mock

    import train_step

    argv = ["--quick", "--dropout", "off", "--no-isolate", "--precisions", "fp32", "bf16"]
    with mock.patch.object(train_step, "time_steps", wraps=train_step.time_steps) as timed:
        result = train_step.main([*argv, "--output", str(tmp_path / "t.json")])
    rows = result["rows"]
    assert [(row["model"], row["precision"], row["dropout"]) for row in rows] == [
        ("mogent", "fp32", False), ("slate", "fp32", False), ("mogent", "bf16", False), ("slate", "bf16", False)
    ]  # fmt: skip
    assert timed.call_count == 4 and all(row["batch"] == 2 and len(row["seconds"]) == 1 for row in rows)
    for model_type, (config_cls, model_cls) in train_step.MODELS.items():
        parameters = sum(p.numel() for p in model_cls(config_cls.from_preset("tiny")).parameters())
        assert all(row["parameters"] == parameters for row in rows if row["model"] == model_type)
    assert json.loads((tmp_path / "t.json").read_text())["rows"] == rows

    def fake_row(model_type, preset, batch, precision, dropout, device, repeats, gradient_checkpointing, **options):
        return {"model": model_type, "preset": preset, "batch": batch, "precision": precision, "dropout": dropout,
                "gradient_checkpointing": gradient_checkpointing, "median_s": 1.0, "parameters": 1,
                "peak_memory_mb": 1.0}  # fmt: skip

    with mock.patch.object(train_step, "time_steps", side_effect=fake_row):
        result = train_step.main(["--presets", "3dshapes", "--dropout", "on", "--no-isolate", "--precisions", "fp32",
                                  "--output", str(tmp_path / "f.json")])  # fmt: skip
    assert sorted({(row["batch"], row["dropout"]) for row in result["rows"]}) == [(8, True), (64, True)]
    assert train_step.TABLE1_TRAIN_BATCH == 64  # Table 1's training batch, not Table 6's 50 for 3D Shapes


def test_threads_benchmark_times_each_case_with_one_and_two_threads_quiet_and_beside_a_busy_core(tmp_path, capsys):
    from unittest import mock

    import threads

    seen_busy = []

    def fake(num_threads, repeats, *rest):
        seen_busy.append(subprocess.run(["pgrep", "-x", "yes"], capture_output=True).returncode == 0)
        return [0.1 * num_threads] * repeats

    with (
        mock.patch.object(threads, "time_train_step", fake),
        mock.patch.object(threads, "time_decode", fake),
        mock.patch.object(threads, "time_segment_command", fake),
    ):
        result = threads.main(["--repeats", "2", "--steps", "2", "--no-isolate", "--output", str(tmp_path / "t.json")])
    rows = result["rows"]
    assert [(row["condition"], row["threads"]) for row in rows[:2]] == [("quiet", 1), ("quiet", 2)]
    assert len(rows) == 3 * 2 * 2 and all(len(row["seconds"]) == 2 for row in rows)
    assert seen_busy == [False] * 6 + [True] * 6  # `yes` runs for the busy rows only, and is stopped after them
    assert subprocess.run(["pgrep", "-x", "yes"], capture_output=True).returncode != 0
    assert "| what | quiet, 1 thread | quiet, 2 threads | busy, 1 thread | busy, 2 threads |" in capsys.readouterr().out
