"""mogent_hf.precision: which reduced precisions a device runs natively, and the one-line warning with the measured
slowdown where one is emulated (checked by lowering what the host reports, so the same tests run on every CPU)."""

import logging

import pytest
import torch

from mogent_hf import precision


@pytest.mark.parametrize(
    "capability, avx512_bf16, amx, native",
    [
        ("AVX512", True, False, True),
        ("AVX512", False, True, True),
        ("AVX512", False, False, False),
        ("AVX2", True, True, False),
        ("DEFAULT", False, False, False),
    ],  # fmt: skip
)
def test_bf16_is_native_only_with_avx512_kernels_and_bf16_instructions(cpu_reports, capability, avx512_bf16, amx,
                                                                        native):  # fmt: skip
    cpu_reports(capability, avx512_bf16, amx)
    assert precision.has_native_precision(torch.bfloat16, "cpu") is native
    assert precision.has_native_precision(torch.float32, "cpu")


def test_an_emulated_precision_is_warned_once_with_its_measured_slowdown(cpu_reports, monkeypatch, caplog):
    cpu_reports("AVX2", False, False)
    monkeypatch.setattr(precision, "matmul_slowdown", lambda dtype, device: 41.7)
    with caplog.at_level(logging.WARNING, logger="mogent_hf.precision"):
        for _ in range(3):
            precision.warn_if_emulated(torch.bfloat16, "cpu")
    assert [record.getMessage() for record in caplog.records] == [
        "bf16 is not native on this CPU (AVX2): a 256x256 matmul measured 42x slower than in fp32, so fp32 is the "
        "faster choice here"
    ]


def test_no_warning_where_the_precision_is_native(cpu_reports, caplog):
    cpu_reports("AVX512", True, True)
    with caplog.at_level(logging.WARNING, logger="mogent_hf.precision"):
        assert precision.warn_if_emulated(torch.bfloat16, "cpu") is None
        assert precision.warn_if_emulated(torch.float32, "cpu") is None
    assert not caplog.records


def test_the_slowdown_is_a_ratio_of_two_small_matmuls():
    assert 0 < precision.matmul_slowdown(torch.float32, "cpu", size=32, repeats=3) < 100


def test_a_pipeline_moved_to_an_emulated_dtype_warns(cpu_reports, monkeypatch, caplog):
    from mogent_hf import MOGENTConfig, MOGENTModel, pipeline_for_model

    cpu_reports("AVX2", False, False)
    monkeypatch.setattr(precision, "matmul_slowdown", lambda dtype, device: 30.0)
    pipe = pipeline_for_model(MOGENTModel(MOGENTConfig.from_preset("tiny")).eval())
    with caplog.at_level(logging.WARNING, logger="mogent_hf.precision"):
        pipe.to(dtype=torch.bfloat16)
    assert "bf16 is not native on this CPU (AVX2)" in caplog.text
