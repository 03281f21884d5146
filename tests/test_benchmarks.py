"""The benchmarks' FLOP counting, against torch's own count of the same attention written as matmuls."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generation import sdpa_flops  # noqa: E402


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
