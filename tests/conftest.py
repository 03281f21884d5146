"""Test isolation: no network, temporary Hugging Face caches. Set before any Hugging Face library is imported."""

import os
import sys
import tempfile
from pathlib import Path

_HF_TMP = tempfile.mkdtemp(prefix="mogent_hf_tests_")
os.environ["HF_HOME"] = os.path.join(_HF_TMP, "hf_home")
os.environ["HF_DATASETS_CACHE"] = os.path.join(_HF_TMP, "datasets")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The benchmark scripts import one another as top-level modules (`from generation import ...`); so do the tests.
sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pytest  # noqa: E402
import torch  # noqa: E402

# The applications' `--num_threads auto` reads OMP_NUM_THREADS before the load average: with it fixed here, every run
# a test starts (in this process or a child) uses this process's thread count, whatever the machine's load does.
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture
def images():
    """A seeded batch of 2 random 32×32 RGB images in [0,1] (the tiny preset's size)."""
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def fake_hub():
    """A loopback Hub on a free port for the whole session; yields it with `endpoint` set."""
    from fake_hub import FakeHub

    hub = FakeHub().start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(fake_hub, tmp_path):
    """Environment for a fresh Python process that talks to the fake Hub with its own cache."""
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=fake_hub.endpoint,
        HF_TOKEN="test-token",
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
    )
    return env


@pytest.fixture
def cpu_reports(monkeypatch):
    """Sets what the CPU reports, (ATen capability, AVX512-BF16, AMX tiles): an AVX2 host on any machine."""
    from mogent_hf import precision

    def report(capability: str, avx512_bf16: bool, amx: bool) -> None:
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", lambda: amx)

    precision.warn_if_emulated.cache_clear()
    yield report
    precision.warn_if_emulated.cache_clear()


def pytest_terminal_summary(terminalreporter) -> None:
    """The host, under the results of every run (`-q` included): the suite's time depends on it (bf16 is emulated
    on AVX2 CPUs)."""
    import platform

    from mogent_hf.precision import has_native_precision

    native = "native" if has_native_precision(torch.bfloat16, "cpu") else "emulated"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    processor = platform.processor() or platform.machine()
    capability = torch.backends.cpu.get_cpu_capability()
    terminalreporter.write_line(
        f"host: {processor}, {os.cpu_count()} cores, ATen CPU capability {capability}, bf16 {native}, "
        f"torch threads {torch.get_num_threads()}, load {load}"
    )


@pytest.fixture(scope="module")
def mogent_pipe():
    """A tiny random MOGENT pipeline (seed 0), one per test module."""
    from mogent_hf import MaskGITScheduler, MOGENTConfig, MOGENTModel, MOGENTPipeline

    torch.manual_seed(0)
    model = MOGENTModel(MOGENTConfig.from_preset("tiny")).eval()
    pipe = MOGENTPipeline(model=model, scheduler=MaskGITScheduler(mask_token_id=model.config.mask_token_id))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def slate_pipe():
    """A tiny random SLATE pipeline (seed 0), one per test module."""
    from mogent_hf import SLATEConfig, SLATEModel, SLATEPipeline

    torch.manual_seed(0)
    pipe = SLATEPipeline(model=SLATEModel(SLATEConfig.from_preset("tiny")).eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe
