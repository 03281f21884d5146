"""MOGENT's decoding strategies: the paper's default unchanged, and the faster options (cached sub-steps, threshold
decoding with early exit, Halton order) each equal to the default where they should be, batch independent and
reproducible."""

import json
from pathlib import Path

import pytest
import torch

from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline

REFERENCE = Path(__file__).parent / "data" / "maskgit_reference_tokens.json"


def tiny_pipe(**scheduler_config):
    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
    scheduler = MaskGITScheduler(mask_token_id=model.config.mask_token_id, **scheduler_config)
    pipe = MOGENTPipeline(model=model, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generators(*seeds):
    return [torch.Generator().manual_seed(seed) for seed in seeds]


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipe()


@pytest.fixture(scope="module")
def slots(pipe):
    config = pipe.model.config
    return torch.randn(3, config.num_slots, config.slot_size, generator=torch.Generator().manual_seed(2))


def test_default_decoding_is_bit_identical_to_the_saved_tokens_of_the_paper_loop(pipe, slots):
    """Tokens saved from the implementation before the decoding strategies were added (same seeds, tiny preset)."""
    reference = json.loads(REFERENCE.read_text())
    parameter_sum = float(sum(p.detach().double().sum() for p in pipe.model.parameters()))
    assert parameter_sum == pytest.approx(reference["parameter_sum"], rel=1e-12), "the tiny preset's weights changed"
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    decoded = {
        "slots_t1_T20": pipe(slots=slots, generator=generators(0, 1, 2), output_type="pt").tokens,
        "slots_greedy_T8": pipe(slots=slots, num_inference_steps=8, temperature=0.0, output_type="pt").tokens,
        "slots_single_generator_T12_topk": pipe(
            slots=slots, num_inference_steps=12, top_k=8, generator=torch.Generator().manual_seed(3), output_type="pt"
        ).tokens,
        "images_ratio_half": pipe(images=images, mask_ratio=0.5, generator=generators(0, 1, 2), output_type="pt").tokens,
        "edit": pipe.edit(
            images[:2], images[1:], [(0, 1)], generator=torch.Generator().manual_seed(4), output_type="pt"
        ).tokens,
        "slots_choice_temperature_2": tiny_pipe(choice_temperature=2.0)(
            slots=slots, generator=generators(0, 1, 2), output_type="pt"
        ).tokens,
    }
    for name, tokens in decoded.items():
        assert torch.equal(tokens, torch.tensor(reference["tokens"][name])), name
