"""MOGENTPipeline and SLATEPipeline against the checks diffusers' own pipelines pass (`PipelineTesterMixin`): a tester
with dummy components and dummy inputs, then batch consistency, batch-vs-single identity, save/load (through the
class and through the generic `DiffusionPipeline` loader), dict/tuple equivalence, callbacks, the scheduler's
timesteps, `num_images_per_prompt`, and clear errors for edge values (issue 27, item 6). The shipped checkpoints
keep their segmentation."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from mogent_hf import (
    ConceptLibrary,
    MaskGITScheduler,
    MOGENTConfig,
    MOGENTModel,
    MOGENTPipeline,
    SLATEConfig,
    SLATEModel,
    SLATEPipeline,
)

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


class MOGENTPipelineTester:
    pipeline_class = MOGENTPipeline
    num_steps = 4  # the dummy inputs' decoding steps

    def get_dummy_components(self):
        torch.manual_seed(0)
        model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
        return {"model": model, "scheduler": MaskGITScheduler(mask_token_id=model.config.mask_token_id)}

    def get_dummy_inputs(self, seed=0, batch_size=1):
        images = torch.rand(batch_size, 3, 32, 32, generator=seeded(100 + seed))
        return {"images": images, "mask_ratio": 0.75, "num_inference_steps": self.num_steps,
                "generator": seeded(seed), "output_type": "np"}  # fmt: skip


class SLATEPipelineTester(MOGENTPipelineTester):
    pipeline_class = SLATEPipeline
    num_steps = 48  # one step per generated token: 0.75 of the 64 tokens

    def get_dummy_components(self):
        torch.manual_seed(0)
        return {"model": SLATEModel(SLATEConfig.from_preset("tiny")).eval()}

    def get_dummy_inputs(self, seed=0, batch_size=1):
        inputs = super().get_dummy_inputs(seed, batch_size)
        del inputs["num_inference_steps"]
        return {**inputs, "temperature": 1.0}  # sampled, so that the generator matters


TESTERS = {"mogent": MOGENTPipelineTester(), "slate": SLATEPipelineTester()}


@pytest.fixture(params=sorted(TESTERS))
def tester(request):
    return TESTERS[request.param]


def make_pipe(tester):
    pipe = tester.pipeline_class(**tester.get_dummy_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def repeated(inputs, batch_size):
    """The dummy inputs with the same image `batch_size` times and one generator per image (seeds 0, 1, ...)."""
    return {**inputs, "images": inputs["images"].repeat(batch_size, 1, 1, 1),
            "generator": [seeded(seed) for seed in range(batch_size)]}  # fmt: skip


# ---- batches (issue 29, item 11) ------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [2, 4])
def test_inference_batch_consistent(tester, batch_size):
    pipe = make_pipe(tester)
    output = pipe(**repeated(tester.get_dummy_inputs(), batch_size))
    assert output.images.shape == (batch_size, 32, 32, 3) and len(output.tokens) == batch_size
    assert len(pipe(**tester.get_dummy_inputs(batch_size=batch_size)).images) == batch_size


def test_inference_batch_single_identical(tester):
    pipe = make_pipe(tester)
    inputs = tester.get_dummy_inputs()
    single = pipe(**inputs)
    torch.manual_seed(1)
    batch = pipe(**repeated(tester.get_dummy_inputs(), 3))
    assert np.abs(batch.images[0] - single.images[0]).max() < 1e-4
    assert torch.equal(batch.tokens[0], single.tokens[0])
    torch.testing.assert_close(batch.slots[0], single.slots[0], atol=1e-5, rtol=1e-5)
    torch.manual_seed(2)  # the same generators under another global seed: the same images
    again = pipe(**repeated(tester.get_dummy_inputs(), 3))
    assert np.array_equal(again.images, batch.images) and torch.equal(again.slots, batch.slots)


def test_generation_from_slots_with_a_generator_list_does_not_depend_on_the_batch(tester):
    pipe = make_pipe(tester)
    slots = torch.randn(3, 3, 32, generator=seeded(5))
    both = pipe(slots=slots, generator=[seeded(0), seeded(1), seeded(2)], temperature=1.0, output_type="pt").tokens
    alone = pipe(slots=slots[2:], generator=[seeded(2)], temperature=1.0, output_type="pt").tokens
    assert torch.equal(both[2:], alone)


# ---- save/load, the generic loader (item 9) -------------------------------------------------------------------
def test_save_load_local_through_the_class_and_through_diffusion_pipeline(tester, tmp_path):
    pipe = make_pipe(tester)
    expected = pipe(**tester.get_dummy_inputs()).images
    pipe.save_pretrained(tmp_path)
    for loader in (tester.pipeline_class, DiffusionPipeline):
        loaded = loader.from_pretrained(tmp_path)
        assert type(loaded) is tester.pipeline_class
        loaded.set_progress_bar_config(disable=True)
        assert np.abs(loaded(**tester.get_dummy_inputs()).images - expected).max() < 1e-6


def test_diffusion_pipeline_loads_a_shipped_checkpoint_in_a_fresh_process_once_mogent_hf_is_imported():
    code = (
        "import mogent_hf\n"
        "from diffusers import DiffusionPipeline\n"
        f"pipe = DiffusionPipeline.from_pretrained({str(CHECKPOINTS / 'mogent-small')!r})\n"
        "print(type(pipe).__name__, type(pipe.model).__name__, type(pipe.scheduler).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["MOGENTPipeline", "MOGENTModel", "MaskGITScheduler"]


@pytest.mark.parametrize("name", ["mogent-small", "mogent-small-full"])
def test_shipped_checkpoints_segment_as_before_through_both_loaders(name):
    from mogent_hf.data import SyntheticScenes

    scenes = {"mogent-small": dict(simple=True, min_objects=2, max_objects=4),
              "mogent-small-full": dict(min_objects=3, max_objects=6)}  # fmt: skip
    images, _ = SyntheticScenes("clevr", 16, 64, seed=0, split="test", **scenes[name]).arrays()
    # Label maps the code before issue 29 computed on these 16 held-out scenes (MOGENTPipeline.segment, no generator;
    # Slot Attention's masks, the default until issue 40).
    expected = np.load(Path(__file__).parent / "data" / "shipped_checkpoint_labels.npz")[name.replace("-", "_")]
    for loader in (MOGENTPipeline, DiffusionPipeline):
        pipe = loader.from_pretrained(CHECKPOINTS / name)
        assert type(pipe) is MOGENTPipeline
        assert np.array_equal(pipe.segment(images, mask_source="slot_attention").numpy(), expected)


# ---- outputs (item 13) ----------------------------------------------------------------------------------------
def test_dict_tuple_outputs_equivalent(tester):
    pipe = make_pipe(tester)
    as_dict = pipe(**tester.get_dummy_inputs())
    as_tuple = pipe(**tester.get_dummy_inputs(), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 4  # images, tokens, slots, slot_masks
    for value, expected in zip(as_tuple, as_dict.to_tuple()):
        assert np.array_equal(value, expected) if isinstance(value, np.ndarray) else torch.equal(value, expected)
    from_slots = pipe(slots=as_dict.slots, generator=seeded(), output_type="pt", return_dict=False)
    assert len(from_slots) == 3  # no slot masks without input images: `to_tuple` leaves out None


# ---- callbacks and timesteps (item 12) ------------------------------------------------------------------------
def test_callback_inputs(tester):
    pipe = make_pipe(tester)
    assert pipe._callback_tensor_inputs == ["tokens"]
    seen = []

    def callback(pipe, step, timestep, tensors):
        seen.append((step, int(timestep), sorted(tensors)))
        return tensors

    pipe(**tester.get_dummy_inputs(), callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["tokens"])
    steps = tester.num_steps
    assert pipe.num_timesteps == steps
    assert seen == [(step, steps - 1 - step, ["tokens"]) for step in range(steps)]  # steps up, timesteps down
    seen.clear()
    pipe(**tester.get_dummy_inputs(), callback_on_step_end=callback, callback_on_step_end_tensor_inputs=[])
    assert len(seen) == steps and seen[0][2] == []
    with pytest.raises(ValueError, match=r"callback_on_step_end_tensor_inputs.*\['tokens'\].*\['latents'\]"):
        pipe(**tester.get_dummy_inputs(), callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"])


def test_callback_can_change_the_tokens(tester):
    pipe = make_pipe(tester)

    def zero_at_the_last_step(pipe, step, timestep, tensors):
        if step == pipe.num_timesteps - 1:
            tensors["tokens"] = torch.zeros_like(tensors["tokens"])
        return tensors

    out = pipe(**{**tester.get_dummy_inputs(), "output_type": "pt"}, callback_on_step_end=zero_at_the_last_step)
    assert (out.tokens == 0).all()


def test_a_pipeline_callback_object_names_its_own_tensor_inputs(tester):
    from diffusers.callbacks import PipelineCallback

    class CountSteps(PipelineCallback):
        tensor_inputs = ["tokens"]

        def callback_fn(self, pipeline, step_index, timestep, callback_kwargs):
            self.steps = step_index + 1
            return callback_kwargs

    callback = CountSteps()
    make_pipe(tester)(**tester.get_dummy_inputs(), callback_on_step_end=callback)
    assert callback.steps == tester.num_steps


def test_interrupt_stops_decoding_and_still_returns_whole_images(tester):
    pipe = make_pipe(tester)
    steps_run = []

    def stop_after_two_steps(pipe, step, timestep, tensors):
        steps_run.append(step)
        pipe._interrupt = step == 1
        return tensors

    inputs = tester.get_dummy_inputs()
    out = pipe(**{**inputs, "output_type": "pt"}, callback_on_step_end=stop_after_two_steps)
    assert steps_run == [0, 1] and pipe.interrupt
    assert out.images.shape == (1, 3, 32, 32) and (out.tokens < pipe.model.config.vocab_size).all()
    pipe(**tester.get_dummy_inputs())
    assert not pipe.interrupt  # reset by the next call


def test_maskgit_scheduler_timesteps_count_down_and_step_t_is_step_T_minus_1_minus_t():
    scheduler = MaskGITScheduler(mask_token_id=10)
    scheduler.set_timesteps(4)
    assert scheduler.timesteps.tolist() == [3, 2, 1, 0]
    tokens = torch.full((1, 8), 10)
    left = []
    for timestep in scheduler.timesteps:
        tokens = scheduler.step(torch.randn(1, 8, 10, generator=seeded()), timestep, tokens).prev_sample
        left.append(int((tokens == 10).sum()))
    assert left == [7, 5, 3, 0]  # ⌊γ(1 − t/T)·8⌋: ⌊8·cos(π/8)⌋, ⌊8·cos(π/4)⌋, ⌊8·cos(3π/8)⌋, 0


# ---- several samples per input (item 14) ----------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("num_images_per_prompt", [1, 2])
def test_num_images_per_prompt(tester, batch_size, num_images_per_prompt):
    pipe = make_pipe(tester)
    inputs = tester.get_dummy_inputs(batch_size=batch_size)
    out = pipe(**inputs, num_images_per_prompt=num_images_per_prompt)
    assert out.images.shape[0] == batch_size * num_images_per_prompt
    assert torch.equal(out.slots, out.slots[::num_images_per_prompt].repeat_interleave(num_images_per_prompt, dim=0))


def test_several_samples_per_slot_set_differ_and_follow_their_generators(tester):
    pipe = make_pipe(tester)
    slots = torch.randn(2, 3, 32, generator=seeded(5))
    generators = [seeded(seed) for seed in range(4)]
    out = pipe(slots=slots, num_images_per_prompt=2, generator=generators, temperature=1.0, output_type="pt")
    assert torch.equal(out.slots, slots.repeat_interleave(2, dim=0))
    assert not torch.equal(out.tokens[0], out.tokens[1])
    alone = pipe(slots=slots[1:], generator=[seeded(3)], temperature=1.0, output_type="pt")
    assert torch.equal(out.tokens[3], alone.tokens[0])


def test_compose_draws_several_decodings_of_each_scene(tester):
    pipe = make_pipe(tester)
    library = ConceptLibrary(torch.randn(12, 32, generator=seeded(1)), torch.arange(12) % 3, 3)
    out = pipe.compose(2, library, generator=[seeded(seed) for seed in range(6)], num_images_per_prompt=3,
                       temperature=1.0, output_type="pt")  # fmt: skip
    assert out.images.shape == (6, 3, 32, 32)
    assert torch.equal(out.slots[:3], out.slots[:1].expand(3, -1, -1)) and not torch.equal(out.slots[0], out.slots[3])
    assert len({tuple(tokens.tolist()) for tokens in out.tokens[:3]}) == 3


# ---- edge values (issue 27, item 6) ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda pipe: pipe.compose(0, ConceptLibrary(torch.randn(6, 32), torch.arange(6) % 3, 3)), "num_images"),
        (lambda pipe: pipe(images=torch.rand(0, 3, 32, 32)), "images.*empty"),
        (lambda pipe: pipe(images=[]), "images.*empty"),
        (lambda pipe: pipe.segment(np.zeros((0, 32, 32, 3), np.uint8)), "images.*empty"),
        (lambda pipe: pipe(slots=torch.rand(0, 3, 32)), "slots.*empty"),
        (lambda pipe: pipe(slots=torch.rand(1, 3, 32), num_images_per_prompt=0), "num_images_per_prompt"),
        (lambda pipe: pipe(slots=torch.rand(1, 3, 32), temperature=-1.0), "temperature"),
        (lambda pipe: pipe.build_concept_library(torch.rand(4, 3, 32, 32), num_concepts=0), "num_concepts"),
    ],
)
def test_edge_values_raise_clear_value_errors(tester, call, match):
    with pytest.raises(ValueError, match=match):
        call(make_pipe(tester))


def test_more_maskgit_steps_than_tokens_warn_that_the_extra_steps_unmask_nothing():
    pipe = make_pipe(TESTERS["mogent"])
    slots = torch.rand(1, 3, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe(slots=slots, num_inference_steps=64, output_type="pt")  # T = L: every step unmasks a token
    with pytest.warns(UserWarning, match=r"num_inference_steps` \(65\) is above the number of tokens \(64\)"):
        out = pipe(slots=slots, num_inference_steps=65, generator=seeded(), output_type="pt")
    assert (out.tokens < pipe.model.config.vocab_size).all()
    with pytest.warns(UserWarning, match="num_inference_steps"):
        pipe.remove(torch.rand(1, 3, 32, 32), slot_index=0, num_inference_steps=100)
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(slots=slots, num_inference_steps=2.5)


def test_model_refuses_an_empty_batch():
    model = MOGENTModel(MOGENTConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="pixel_values.*empty"):
        model(torch.rand(0, 3, 32, 32))
    with pytest.raises(ValueError, match="slots.*empty"):
        model.slot_kv(torch.rand(0, 3, 32))


@pytest.mark.parametrize("library_first", [False, True])
def test_import_mogent_hf_is_lazy_and_registers_the_auto_classes_once_transformers_is_imported(library_first):
    code = (
        ("import transformers\n" if library_first else "")
        + "import sys, mogent_hf\n"
        + "print('torch' in sys.modules)\n"
        + "from transformers import AutoConfig\n"
        + f"print(type(AutoConfig.from_pretrained({str(CHECKPOINTS / 'mogent-small' / 'model')!r})).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    torch_imported, config_class = result.stdout.split()
    assert config_class == "MOGENTConfig"
    assert torch_imported == str(library_first)  # nothing heavy before a library that needs the classes is imported
