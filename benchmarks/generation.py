"""Generation speed, MOGENT vs SLATE, as the paper's Table 1 and Figure 2 (random weights: speed does not depend on
training). Per-image time of decoding from slots (slot encoding excluded) and from images (included), for

- MOGENT: T=20 MaskGIT steps through `MOGENTPipeline` (exact inverse-CDF token sampler on the still-masked rows,
  head only at masked positions, the slots' cross-attention folded once per image, SDPA);
- MOGENT-unfolded-slots: MOGENT with the slots' cross-attention as keys/values (computed once per image) and the
  query/output projections run at every step: the "before" of folding them into the slots;
- MOGENT-full-last-block: MOGENT with its last decoder block on every row (the "before" of running that block on the
  still-masked rows only);
- MOGENT-flat-sampler: MOGENT with a one-level inverse CDF (softmax → cumsum over all V codes → searchsorted), the
  "before" of the two-level sampler;
- MOGENT-allocating-sampler: MOGENT with the two-level sampler allocating a second full-width buffer per step
  instead of writing into its fp32 copy of bf16 logits, the "before" of that (fp32 logits: the same code);
- MOGENT-naive: the same decoding without those optimisations (head on all L positions, slot K/V every step,
  Gumbel-max sampling over the whole vocabulary), the "before" of each optimisation;
- MOGENT-compiled: MOGENT with its decoder compiled by `torch.compile` (CUDA graphs on CUDA), as a user would add it
  (`pipe.model.decoder.compile()`); its first call, the compilation, is timed apart. Not in the default --modes;
- SLATE-KV: autoregressive, KV cache (our default); SLATE-uncached: the official SLATE loop (whole prefix every step)
  with our kernels (SDPA, token ids): the baseline of the targets;
- SLATE-official-loop: that loop as the official code runs it, op for op (`slate_official_loop.py`: one-hot prefixes,
  matmul-softmax attention over a causal mask); what the paper's Table 1 timed. Not in the default --modes.

fp32 and bf16 weights; batch 1 and 32; the 3dshapes model at 32–128 px (Figure 2) and both presets at their own
size (Table 1); CPU, and CUDA when present. Each case (and precision) runs in a fresh process: after uncached
SLATE at 128 px, the same process decodes MOGENT ~25% slower. Median of repeats after a warm-up, min–max shown.
Slow cases (uncached SLATE at large sizes) run fewer repeats, never extrapolated; cases beyond --max_case_seconds
are skipped and listed.
Also measured: the fp32/bf16 matmul peak of this machine, MOGENT's achieved FLOP rate, and the FLOPs per image
of each decoder (torch's FlopCounterMode), whose ratio is what the time ratio would be at equal efficiency.

    python benchmarks/generation.py                   # everything (≈ 60 min on our 2-core CPU)
    python benchmarks/generation.py --quick           # tiny smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from unittest import mock

import torch
from slate_official_loop import official_slate_tokens
from torch.utils.flop_counter import FlopCounterMode

from mogent_hf import (
    MOGENTConfig,
    MOGENTModel,
    MOGENTPipeline,
    SLATEConfig,
    SLATEModel,
    pipeline_for_model,
    scheduling_maskgit,
)
from mogent_hf.modules.masking import sample_tokens, uniform
from mogent_hf.modules.transformer import gather_rows
from mogent_hf.precision import emulation_warning, has_native_precision, matmul_seconds, warn_if_emulated
from mogent_hf.visualization import line_plot

RESULTS = Path(__file__).parent / "results"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MODES = (
    "mogent",
    "mogent_unfolded_slots",
    "mogent_full_last_block",
    "mogent_flat_sampler",
    "mogent_allocating_sampler",
    "mogent_naive",
    "mogent_compiled",
    "slate_kv",
    "slate_uncached",
    "slate_official_loop",
)
SLOW_MODES = ("mogent_compiled", "slate_official_loop")  # not in the default --modes
UNCACHED_MODES = ("slate_uncached", "slate_official_loop")  # SLATE re-decoding the whole prefix every step
FIGURE2_MODES = ("mogent", "mogent_naive", "slate_kv", "slate_uncached", "slate_official_loop")
SAMPLER = (
    "two-level inverse-CDF categorical (exp → block sums → one uniform per masked token → block by searchsorted, "
    "then the code inside it; ~√V codes per block)"
)


def results_path(output: str | Path | None, default_stem: str) -> Path:
    """Where a benchmark writes its JSON: `output` (--output), or benchmarks/results/<default_stem>.json; the folder
    is made if missing."""
    path = Path(output) if output else RESULTS / f"{default_stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_results(result: dict, output: str | Path | None, default_stem: str, indent: int = 2) -> Path:
    """Writes a benchmark's `result` as JSON at `results_path(output, default_stem)`, says where, returns the path."""
    path = results_path(output, default_stem)
    path.write_text(json.dumps(result, indent=indent))
    print(f"wrote {path}")
    return path


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")] if Path("/proc/cpuinfo").exists() else []  # fmt: skip
    return f"{names[0] if names else platform.machine()}, {torch.get_num_threads()} threads"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_pipeline(model_type: str, preset: str, resolution: int, dtype: torch.dtype, device: torch.device, **overrides):
    """A seeded, randomly initialised pipeline of the preset at `resolution`; `overrides` are config fields."""
    torch.manual_seed(0)
    if model_type == "mogent":
        model = MOGENTModel(MOGENTConfig.from_preset(preset, image_size=resolution, **overrides))
    else:
        model = SLATEModel(SLATEConfig.from_preset(preset, image_size=resolution, **overrides))
    pipe = pipeline_for_model(model).to(device, dtype)
    pipe.model.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def naive_maskgit_tokens(
    pipe: MOGENTPipeline, slots: torch.Tensor, num_steps: int, generator, greedy: bool = False
) -> torch.Tensor:
    """MaskGIT decoding without the optimisations: every step recomputes the slot K/V, runs the head on all L
    positions and samples every position with Gumbel-max over the whole vocabulary (same schedule and remasking);
    `greedy` takes the argmax instead (then it must equal the pipeline at temperature 0 exactly)."""
    from mogent_hf.scheduling_maskgit import num_masked_after_step, remask_lowest_confidence

    model, mask_id = pipe.model, pipe.model.config.mask_token_id
    tokens = torch.full((slots.shape[0], model.config.num_tokens), mask_id, device=slots.device)
    num_masked_start = torch.full((slots.shape[0],), model.config.num_tokens, device=slots.device)
    for step in range(num_steps):
        masked = tokens == mask_id
        logits = model.token_logits(tokens, slots=slots).float()  # (B,L,V)
        if greedy:
            sampled = logits.argmax(-1)
        else:
            uniform = torch.rand(logits.shape, generator=generator, device=logits.device)
            sampled = (logits - torch.log(-torch.log(uniform.clamp_min(1e-20)))).argmax(-1)  # Gumbel-max
        log_probs = logits.log_softmax(-1).gather(-1, sampled[..., None])[..., 0]
        candidates = torch.where(masked, sampled, tokens)
        confidence = torch.where(masked, log_probs, torch.full_like(log_probs, float("inf")))
        still_masked = num_masked_after_step(step, num_steps, num_masked_start)
        tokens = candidates.masked_fill(remask_lowest_confidence(confidence, still_masked), mask_id)
    return tokens


@contextlib.contextmanager
def last_block_on_all_rows(decoder):
    """Within the block, `decoder` computes its last block on every row and gathers the asked rows afterwards."""
    full = decoder.forward

    def forward(hidden, slot_kv, positions=None, cache=None, query_positions=None):
        out = full(hidden, slot_kv, positions, cache)
        return out if query_positions is None else gather_rows(out, query_positions)

    decoder.forward = forward
    try:
        yield decoder
    finally:
        del decoder.forward


@contextlib.contextmanager
def unfolded_slot_attention(model):
    """Within the block, `model`'s decoding loops attend to slot keys/values (`slot_kv`) instead of folded slots."""
    model.fold_slot_attention = model.slot_kv
    try:
        yield model
    finally:
        del model.fold_slot_attention


def flat_inverse_cdf(logits, temperature=1.0, top_k=None, generator=None):
    """The one-level sampler that the two-level `sample_tokens` replaced (same tokens, one cumsum over all V)."""
    log_probs = (logits.float() / temperature).log_softmax(dim=-1)
    cdf = log_probs.exp().cumsum(dim=-1)
    draws = uniform(tuple(cdf.shape[:-1]) + (1,), generator, cdf.device) * cdf[..., -1:]
    tokens = torch.searchsorted(cdf, draws, right=True).squeeze(-1).clamp_max(logits.shape[-1] - 1)
    return tokens, log_probs.gather(-1, tokens[..., None]).squeeze(-1)


def allocating_sampler(logits, temperature=1.0, top_k=None, generator=None):
    """`sample_tokens` as it was before it wrote into its own fp32 copy of the logits: handed a copy that it may not
    write to, it allocates one more full-width (M, V) buffer per step (for bf16 logits; the same tokens)."""
    return sample_tokens(logits.float(), temperature, top_k, generator)


@contextlib.contextmanager
def sampler_replaced(sampler):
    """Within the block, the MaskGIT scheduler samples with `sampler`."""
    with mock.patch.object(scheduling_maskgit, "sample_tokens", sampler):
        yield


COMPILED_DECODERS = {}  # id(eager decoder) → its torch.compile'd module, compiled once per process


@contextlib.contextmanager
def compiled_decoder(model):
    """Within the block, `model` decodes through `torch.compile(model.decoder)` — what a user gets from
    `pipe.model.decoder.compile()`; with `mode="reduce-overhead"` (CUDA graphs) on CUDA. The first call compiles
    (a static graph for the first shape, then one with the number of masked rows dynamic); the same tokens."""
    eager = model.decoder
    if id(eager) not in COMPILED_DECODERS:
        mode = "reduce-overhead" if next(eager.parameters()).is_cuda else None
        COMPILED_DECODERS[id(eager)] = torch.compile(eager, mode=mode)
    model.decoder = COMPILED_DECODERS[id(eager)]
    try:
        yield model
    finally:
        model.decoder = eager


# MOGENT modes that are the pipeline's decoding inside a context undoing one optimisation (its "before"), or adding
# one that the library leaves to the user (compilation).
MOGENT_VARIANTS = {
    "mogent_full_last_block": lambda pipe: last_block_on_all_rows(pipe.model.decoder),
    "mogent_unfolded_slots": lambda pipe: unfolded_slot_attention(pipe.model),
    "mogent_flat_sampler": lambda pipe: sampler_replaced(flat_inverse_cdf),
    "mogent_allocating_sampler": lambda pipe: sampler_replaced(allocating_sampler),
    "mogent_compiled": lambda pipe: compiled_decoder(pipe.model),
}


def decode_call(mode: str, pipe, slots: torch.Tensor, images: torch.Tensor | None):
    """The timed call: decode from `slots`, or from `images` (encoding included) when given."""
    source = {"images": images} if images is not None else {"slots": slots}
    device = slots.device
    if mode == "mogent":
        return lambda: pipe(**source, num_inference_steps=20, temperature=1.0, output_type="pt",
                            generator=torch.Generator(device).manual_seed(0))  # fmt: skip
    if mode in MOGENT_VARIANTS:
        decode = decode_call("mogent", pipe, slots, images)

        def variant():
            with MOGENT_VARIANTS[mode](pipe):
                return decode()

        return variant
    if mode in ("mogent_naive", "slate_official_loop"):  # token loops of the benchmarks, outside the pipelines

        def outside_pipeline():
            decode_slots = pipe.model.encode(images).slots if images is not None else slots
            if mode == "mogent_naive":
                tokens = naive_maskgit_tokens(pipe, decode_slots, 20, torch.Generator(device).manual_seed(0))
            else:
                tokens = official_slate_tokens(pipe.model, decode_slots)
            return pipe.model.decode_tokens(tokens)

        return outside_pipeline
    return lambda: pipe(**source, use_cache=mode == "slate_kv", output_type="pt")


def in_fresh_process(function, *args, isolate: bool = True):
    """`function(*args)` in a fresh (spawned) process; None when that process dies, e.g. killed for memory.
    `isolate=False` (the scripts' --no-isolate) calls it in this process instead."""
    if not isolate:
        return function(*args)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(function, *args).result()
    except BrokenProcessPool:
        return None


def measure(fn, device: torch.device, repeats: int, max_seconds: float) -> list[float] | None:
    """Seconds per call: a warm-up, then `repeats` timed calls (one when the warm-up alone took > max_seconds/4,
    none — None — when it took longer than max_seconds)."""
    start = time.perf_counter()
    fn()
    synchronize(device)
    warmup = time.perf_counter() - start
    if warmup > max_seconds:
        return None
    repeats = 1 if warmup > max_seconds / 4 else repeats
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def matmul_peak(
    dtype: torch.dtype, device: torch.device, max_size: int = 2048, budget_s: float = 0.05, repeats: int = 10
) -> float:
    """Median GFLOP/s of a size×size matmul (the machine's practical peak at that precision). The size starts at
    256 and doubles, up to `max_size`, while one matmul takes under `budget_s`: 2048 where the precision is native,
    less where it is emulated (bf16 on an AVX2 CPU: a 2048² matmul would take seconds), so that the measurement
    takes about a second on any machine."""
    size = 256
    while size < max_size and matmul_seconds(dtype, device, size, repeats=1) <= budget_s:
        size *= 2
    return 2 * size**3 / matmul_seconds(dtype, device, size, repeats) / 1e9


def choose_precisions(requested: list[str] | None, device: torch.device) -> list[str]:
    """The precisions to time: the requested ones (an emulated one is warned about, with its measured slowdown),
    or by default fp32 and those this device runs natively (a skipped one is said, with the reason)."""
    if requested is not None:
        for name in requested:
            warn_if_emulated(DTYPES[name], str(device))
        return list(requested)
    chosen = [name for name, dtype in DTYPES.items() if has_native_precision(dtype, device)]
    for name in DTYPES.keys() - set(chosen):
        print(f"{name} rows skipped (--precisions {name} times them anyway): {emulation_warning(DTYPES[name], device)}")
    return chosen


def report_peaks(device: torch.device, precisions=tuple(DTYPES)) -> dict[str, float]:
    """`matmul_peak` at each precision (name → GFLOP/s), printed with the device's name."""
    peaks = {name: matmul_peak(DTYPES[name], device) for name in precisions}
    print(f"device: {device_name(device)}; matmul peak " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
    return peaks


def sdpa_flops(
    query_shape, key_shape, value_shape, dropout_p=0.0, is_causal=False, *args, out_shape=None, **kwargs
) -> int:
    """FLOPs of CPU flash attention, which torch's FlopCounterMode does not count: QKᵀ and PV, 2·m·n·k each; causal
    attention (queries = keys, top-left aligned) computes only the m·(m+1)/2 pairs at or below the diagonal."""
    batch, heads, queries, dim = query_shape
    pairs = queries * (queries + 1) // 2 if is_causal else queries * key_shape[-2]
    return 4 * batch * heads * pairs * dim


def decoding_flops(mode: str, pipe, slots: torch.Tensor) -> int:
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        decode_call(mode, pipe, slots, None)()
    return counter.get_total_flops()


def cases(args) -> list[dict]:
    """(preset, resolution, batch) combinations of `args.presets`: Figure 2 (3dshapes model, 32–128 px, batch 1)
    and Table 1."""
    sweep = args.resolutions if "3dshapes" in args.presets else []
    found = [dict(figure="figure2", preset="3dshapes", resolution=r, batch=1) for r in sweep]
    for preset, resolution in (("3dshapes", 64), ("clevr", 128)):
        for batch in args.batch_sizes if preset in args.presets else []:
            if not (preset == "3dshapes" and batch == 1):  # already in the Figure-2 sweep
                found.append(dict(figure="table1", preset=preset, resolution=resolution, batch=batch))
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 48, 64, 96, 128])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--presets", nargs="+", choices=("3dshapes", "clevr"), default=["3dshapes", "clevr"],
                        help="the models to time (3dshapes: the Figure-2 sweep and its Table-1 rows)")  # fmt: skip
    parser.add_argument("--precisions", nargs="+", choices=tuple(DTYPES), default=None,
                        help="default: fp32, and bf16 where this device runs it natively")  # fmt: skip
    parser.add_argument("--modes", nargs="+", choices=MODES, default=[m for m in MODES if m not in SLOW_MODES],
                        help=f"default: all but {', '.join(SLOW_MODES)} (compiling takes ~30 s per case on CPU; "
                        "the official loop ~2 min per decode at 128 px)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max_case_seconds", type=float, default=120.0, help="one repeat when the warm-up takes "
                        "over a quarter of it; skipped when over it")  # fmt: skip
    parser.add_argument("--include_encoding", action=argparse.BooleanOptionalAction, default=True,
                        help="also time image → slots → image (batch 1, 64 and 128 px)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 px, batch 1, 1 repeat")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                        help="measure each case and precision in a fresh process (default)")  # fmt: skip
    parser.add_argument(
        "--output", default=None, help="JSON path (default benchmarks/results/generation_<device>.json)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.resolutions, args.batch_sizes, args.repeats = [32], [1], 1
    device = torch.device(args.device)
    args.precisions = choose_precisions(args.precisions, device)
    peaks = report_peaks(device, args.precisions)
    output = results_path(args.output, f"generation_{device.type}{'_quick' if args.quick else ''}")
    rows = []
    for case in cases(args) if not args.quick else cases(args)[:1]:
        for precision in args.precisions:
            # a fresh process (unless --no-isolate), so that no earlier case's state slows this one
            measured = in_fresh_process(measure_case, case, precision, peaks, args, isolate=args.isolate)
            if measured is None:
                print(f"{case} {precision}: the case's process died (out of memory?); going on", flush=True)
            rows += measured or []
            result = write_results(output, device, peaks, rows)  # after every case: a run cut short keeps them
    print_tables(result)
    if not args.quick:
        draw_figure2(rows, output.with_suffix(".png"))
    print(f"wrote {output}")
    return result


def measure_case(case: dict, precision: str, peaks: dict, args: argparse.Namespace) -> list[dict]:
    """Times every mode of one case at one precision (options from `main`'s `args`); prints and returns its rows."""
    device, dtype = torch.device(args.device), DTYPES[precision]
    pipes = {kind: make_pipeline(kind, case["preset"], case["resolution"], dtype, device)
             for kind in ("mogent", "slate")}  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(case["batch"], 3, case["resolution"], case["resolution"], generator=generator)
    images = images.to(device, dtype)
    rows = []
    for mode in args.modes:
        if mode in UNCACHED_MODES and case["batch"] > 1 and case["resolution"] > 64:
            # tens of minutes per call (measured batch-1 time × batch): listed as not measured
            rows.append({**case, "precision": precision, "mode": mode, "encoding": "excluded",
                         "seconds": None, "per_image": None, "skipped": "batch > 1 above 64 px"})  # fmt: skip
            continue
        pipe = pipes["mogent" if mode.startswith("mogent") else "slate"]
        slots = pipe.model.encode(images, generator=torch.Generator(device).manual_seed(0)).slots
        sources = [("excluded", None)]
        if args.include_encoding and case["batch"] == 1 and case["resolution"] in (64, 128) and (
                precision == "fp32"):  # fmt: skip
            sources.append(("included", images))  # Table 1's sizes
        for encoding, source_images in sources:
            call = decode_call(mode, pipe, slots, source_images)
            first_call = None
            if mode == "mogent_compiled":  # the compilation, timed apart from the warm-up of `measure`
                start = time.perf_counter()
                call()
                synchronize(device)
                first_call = time.perf_counter() - start
            times = measure(call, device, args.repeats, args.max_case_seconds)
            row = {**case, "precision": precision, "mode": mode, "encoding": encoding,
                   "seconds": times, "per_image": None if times is None else
                   [t / case["batch"] for t in times]}  # fmt: skip
            if first_call is not None:
                row["first_call_seconds"] = first_call
            if times is None:
                row["skipped"] = "warm-up over --max_case_seconds"
            counted = mode in ("mogent", "slate_kv") or (mode in UNCACHED_MODES and case["batch"] == 1)
            if counted and encoding == "excluded" and times is not None:
                flops = decoding_flops(mode, pipe, slots)
                row["gflop_per_image"] = flops / case["batch"] / 1e9
                row["gflops_per_second"] = flops / statistics.median(times) / 1e9
                row["fraction_of_peak"] = row["gflops_per_second"] / peaks[precision]
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def write_results(output: Path, device: torch.device, peaks: dict, rows: list[dict]) -> dict:
    result = {"device": device_name(device), "torch": torch.__version__, "sampler": SAMPLER, "peaks_gflops": peaks,
              "rows": rows, "ratios": ratios(rows)}  # fmt: skip
    output.write_text(json.dumps(result, indent=2))
    return result


def median_ms(row: dict) -> float | None:
    return None if row["per_image"] is None else 1000 * statistics.median(row["per_image"])


def format_row(row: dict) -> str:
    if row["per_image"] is None:
        timing = "not measured: " + row.get("skipped", "warm-up over --max_case_seconds")
    else:
        low, high = 1000 * min(row["per_image"]), 1000 * max(row["per_image"])
        timing = f"{median_ms(row):9.1f} ms/img ({low:.1f}–{high:.1f}, n={len(row['per_image'])})"
    extra = f"  {row['gflops_per_second']:.0f} GFLOP/s ({100 * row['fraction_of_peak']:.0f}% of peak)" if (
        "gflops_per_second" in row) else ""  # fmt: skip
    if "first_call_seconds" in row:
        extra += f"  first call (compiling) {row['first_call_seconds']:.1f} s"
    return (f"{row['preset']:8s} {row['resolution']:4d}px B{row['batch']:<3d} {row['precision']} {row['mode']:25s} "
            f"enc {row['encoding']:8s} {timing}{extra}")  # fmt: skip


def lookup(rows, **key) -> float | None:
    for row in rows:
        if all(row[k] == v for k, v in key.items()):
            return median_ms(row)
    return None


def gflop_per_image(rows, **key) -> float | None:
    """The counted GFLOP per image of a case (any precision: the count does not depend on it)."""
    return next((r["gflop_per_image"] for r in rows if "gflop_per_image" in r and all(
        r[k] == v for k, v in key.items())), None)  # fmt: skip


def ratios(rows: list[dict]) -> list[dict]:
    """SLATE / MOGENT per case: at equal precision, and each at its fastest precision."""
    found = []
    for case in {(r["preset"], r["resolution"], r["batch"]) for r in rows}:
        preset, resolution, batch = case
        base = dict(preset=preset, resolution=resolution, batch=batch, encoding="excluded")
        for slate in (m for m in MODES if m != "mogent"):
            entry = {"preset": preset, "resolution": resolution, "batch": batch, "ratio": f"{slate} / mogent"}
            for precision in ("fp32", "bf16"):
                a, b = lookup(rows, **base, mode=slate, precision=precision), lookup(rows, **base, mode="mogent",
                                                                                   precision=precision)  # fmt: skip
                entry[precision] = a / b if a and b else None
            fastest = [lookup(rows, **base, mode=m, precision=p) for m in (slate, "mogent") for p in ("fp32", "bf16")]
            slate_best, mogent_best = min(filter(None, fastest[:2]), default=None), min(filter(None, fastest[2:]),
                                                                                       default=None)  # fmt: skip
            entry["best_vs_best"] = slate_best / mogent_best if slate_best and mogent_best else None
            flops = [gflop_per_image(rows, **base, mode=m) for m in (slate, "mogent")]
            entry["flop_ratio"] = flops[0] / flops[1] if all(flops) else None  # the time ratio at equal efficiency
            found.append(entry)
    return sorted(found, key=lambda e: (e["preset"], e["resolution"], e["batch"], e["ratio"]))


def print_tables(result: dict) -> None:
    rows = result["rows"]
    print("\n| preset | px | batch | precision | " + " | ".join(MODES) + " |")
    print("|---|---|---|---|" + "---|" * len(MODES))
    keys = sorted({(r["preset"], r["resolution"], r["batch"], r["precision"]) for r in rows})
    for preset, resolution, batch, precision in keys:
        cells = []
        for mode in MODES:
            value = lookup(rows, preset=preset, resolution=resolution, batch=batch, precision=precision, mode=mode,
                           encoding="excluded")  # fmt: skip
            cells.append("–" if value is None else f"{value:.1f}")
        print(f"| {preset} | {resolution} | {batch} | {precision} | " + " | ".join(cells) + " |")
    print("\n| preset | px | batch | ratio | fp32 | bf16 | each at its fastest | FLOP ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for entry in result["ratios"]:
        keys = ("fp32", "bf16", "best_vs_best", "flop_ratio")
        cells = ["–" if entry.get(k) is None else f"{entry[k]:.1f}×" for k in keys]
        head = f"| {entry['preset']} | {entry['resolution']} | {entry['batch']} | {entry['ratio']} | "
        print(head + " | ".join(cells) + " |")


def draw_figure2(rows: list[dict], path: Path) -> None:
    series = {}
    for mode in FIGURE2_MODES:
        for precision in ("fp32", "bf16"):
            points = [(r["resolution"], median_ms(r) / 1000) for r in rows if r["figure"] == "figure2" and
                      r["mode"] == mode and r["precision"] == precision and r["encoding"] == "excluded"
                      and r["per_image"] is not None]  # fmt: skip
            if points:
                series[f"{mode} {precision}"] = ([p[0] for p in points], [p[1] for p in points])
    if series:
        plot = line_plot(series, "Figure 2: generation time per image (batch 1, 3dshapes model)", "resolution (px)",
                         "seconds / image (log)", log_y=True, size=(720, 420))  # fmt: skip
        plot.save(path)


if __name__ == "__main__":
    main()
