"""A one-minute look at MOGENT and SLATE: parameter counts of the paper's presets, then the tiny preset's
training step (forward + backward) and decoding on random images, with the losses printed."""

from __future__ import annotations

import time

import torch

from mogent_hf import (
    MOGENTConfig,
    MOGENTModel,
    SLATEConfig,
    SLATEModel,
    pipeline_for_model,
)

PAPER_PARAMETERS = {("SLATE", "3dshapes"): "3.6M", ("MOGENT", "3dshapes"): "3.7M"}


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def main() -> None:
    print("Parameters (ours vs the paper's Table 1):")
    for name, config_cls, model_cls in [("SLATE", SLATEConfig, SLATEModel), ("MOGENT", MOGENTConfig, MOGENTModel)]:
        for preset in ("3dshapes", "clevr"):
            count = count_parameters(model_cls(config_cls.from_preset(preset)))
            print(f"  {name:6s} {preset:8s} {count:>10,d}   paper: {PAPER_PARAMETERS.get((name, preset), '-')}")

    torch.manual_seed(0)
    images = torch.rand(4, 3, 32, 32)
    for name, config_cls, model_cls in [("MOGENT", MOGENTConfig, MOGENTModel), ("SLATE", SLATEConfig, SLATEModel)]:
        model = model_cls(config_cls.from_preset("tiny"))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        start = time.perf_counter()
        for step in range(20):
            optimizer.zero_grad()
            output = model(images, tau=1.0, sigma=1.0)
            output.loss.backward()
            optimizer.step()
            if step in (0, 19):
                print(
                    f"{name} tiny step {step:2d}: loss {output.loss.item():.4f} (DVAE MSE "
                    f"{output.dvae_mse.item():.4f}, CE {output.cross_entropy.item():.4f})"
                )
        model.eval()
        pipe = pipeline_for_model(model)
        pipe.set_progress_bar_config(disable=True)
        decoded = pipe(images=images, output_type="pt").images  # encode → slots → decode from an empty canvas
        print(f"{name} tiny: 20 train steps + decode of {tuple(decoded.shape)} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
