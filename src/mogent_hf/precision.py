"""Whether a device runs a reduced precision natively, and what an emulated one costs.

bf16 is several times faster than fp32 on Intel Xeons with AVX512-BF16 or AMX, and tens of times slower on CPUs
without them (AVX2, e.g. many AMD EPYCs), where oneDNN emulates it. The scripts and pipelines call
`warn_if_emulated` when asked for a reduced precision, so that a user learns the cost in one line, with the
slowdown measured on their own machine."""

from __future__ import annotations

import functools
import logging
import statistics
import time

import torch

logger = logging.getLogger(__name__)

REDUCED = {torch.bfloat16: "bf16", torch.float16: "fp16"}


def has_native_precision(dtype: torch.dtype, device: torch.device | str = "cpu") -> bool:
    """True for fp32, and for bf16 / fp16 where the hardware has instructions for them: on a CUDA device what
    torch reports; on a CPU, ATen's AVX-512 kernels (`torch.backends.cpu.get_cpu_capability()`; the
    ATEN_CPU_CAPABILITY variable can lower it) with AVX512-BF16 or AMX for bf16, AMX-FP16 for fp16."""
    device = torch.device(device)
    if dtype not in REDUCED:
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported() if dtype == torch.bfloat16 else True
    if device.type != "cpu" or not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False
    if dtype == torch.bfloat16:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.cpu._is_amx_fp16_supported()


def matmul_seconds(dtype: torch.dtype, device: torch.device | str = "cpu", size: int = 256, repeats: int = 5) -> float:
    """Median seconds of a size×size matmul in `dtype` on `device`, after one untimed warm-up (kernel selection,
    first-touch allocation)."""
    device = torch.device(device)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_slowdown(dtype: torch.dtype, device: torch.device | str = "cpu", size: int = 256, repeats: int = 5) -> float:
    """Median time of a size×size matmul in `dtype` over that in fp32, on `device` (a fraction of a second on any
    CPU at the default size)."""
    return matmul_seconds(dtype, device, size, repeats) / matmul_seconds(torch.float32, device, size, repeats)


def emulation_warning(dtype: torch.dtype, device: torch.device | str = "cpu") -> str | None:
    """One line saying that `dtype` is emulated on `device` and how much slower it measured; None where native."""
    if has_native_precision(dtype, device):
        return None
    device = torch.device(device)
    where = f"this CPU ({torch.backends.cpu.get_cpu_capability()})" if device.type == "cpu" else f"{device}"
    return (
        f"{REDUCED[dtype]} is not native on {where}: a 256x256 matmul measured "
        f"{matmul_slowdown(dtype, device):.0f}x slower than in fp32, so fp32 is the faster choice here"
    )


@functools.cache
def warn_if_emulated(dtype: torch.dtype, device: torch.device | str = "cpu") -> str | None:
    """Logs `emulation_warning` (a WARNING of the `mogent_hf.precision` logger) where it applies, once per
    process for each precision and device; returns it."""
    message = emulation_warning(dtype, device)
    if message:
        logger.warning(message)
    return message
