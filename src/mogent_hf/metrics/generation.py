"""Generation metrics: FID and IS on Inception-v3 features, MSE and LPIPS for reconstructions.

The maths follows the reference implementations: the Fréchet distance as pytorch-fid computes it (scipy's `sqrtm`,
an ε·I offset when the product is singular, the real part kept when the imaginary residue is negligible), the
Inception Score as Salimans et al. (exp of the mean KL between p(y|x) and p(y), mean and std over 10 splits).

The networks are TorchScript files given by a local path or a Hub id (`org/repo` + filename), because the
packaged implementations (pytorch-fid, torch-fidelity, lpips) need torchvision, which has no CPU build for our
torch. The interfaces are those of the widely used files:
- Inception: NVIDIA's `inception-2015-12-05.pt` (StyleGAN2-ADA/3, clean-fid): `model(images, return_features=True)`
  → pool features (N,2048); `model(images, no_output_bias=True)` → class probabilities (N,1008); images are float
  (N,3,H,W) in [0,255] and the network resizes them to 299 itself.
- LPIPS: `model(images_a, images_b)` → distances (N,) or (N,1,1,1), images in [-1,1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.linalg
import torch


def load_torchscript(name_or_path: str | Path, filename: str | None = None, **hub_kwargs) -> torch.jit.ScriptModule:
    """A TorchScript network from a local file, or from the Hub (`name_or_path` = repo id, `filename` in it)."""
    path = Path(name_or_path)
    if not path.is_file():
        if filename is None:
            raise FileNotFoundError(
                f"network weights not found at {str(name_or_path)!r}; give a local TorchScript file, or a Hub repo id "
                "together with `filename`"
            )
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(str(name_or_path), filename, **hub_kwargs))
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as error:
        raise ValueError(f"{path} is not a TorchScript file: {error}") from error


# ---- FID ----------------------------------------------------------------------------------------------------------
def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N,D) → mean (D,) and covariance (D,D) (unbiased, as pytorch-fid)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"`features` must be (N, D) with N >= 2, got shape {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6):
    """‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{mu2.shape}, {sigma1.shape}/{sigma2.shape}")
    difference = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():  # singular product: offset the diagonals
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in the matrix square root")
        covmean = covmean.real
    return float(difference.dot(difference) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(real_features: np.ndarray, generated_features: np.ndarray) -> float:
    """FID between two sets of Inception pool features (N,2048)."""
    return frechet_distance(*feature_statistics(real_features), *feature_statistics(generated_features))


# ---- IS -----------------------------------------------------------------------------------------------------------
def inception_score(probabilities: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Class probabilities p(y|x) (N,C) → (mean, std) over `num_splits` splits of exp(E_x KL(p(y|x) ‖ p(y)))."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] < num_splits:
        raise ValueError(f"`probabilities` must be (N, C) with N >= num_splits={num_splits}, got {probabilities.shape}")
    scores = []
    for part in np.array_split(probabilities, num_splits):
        marginal = part.mean(0, keepdims=True)
        kl = part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionFeatures:
    """Pool features and class probabilities of images (N,3,H,W) in [0,1], in batches, with an Inception network of
    the `inception-2015-12-05.pt` interface (see the module docstring)."""

    def __init__(self, network: torch.nn.Module, batch_size: int = 64, device: str | torch.device = "cpu"):
        self.network, self.batch_size, self.device = network.to(device), batch_size, torch.device(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"`images` must be (N, 3, H, W) in [0, 1], got shape {tuple(images.shape)}")
        features, probabilities = [], []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device, torch.float32) * 255.0
            features.append(self.network(batch, return_features=True).cpu())
            probabilities.append(self.network(batch, no_output_bias=True).cpu())
        return torch.cat(features).double().numpy(), torch.cat(probabilities).double().numpy()


# ---- reconstruction -----------------------------------------------------------------------------------------------
def mean_squared_error(images: torch.Tensor, references: torch.Tensor) -> float:
    """Per-pixel MSE between images (N,3,H,W) in [0,1] and their references."""
    if images.shape != references.shape:
        raise ValueError(f"shapes differ: {tuple(images.shape)} vs {tuple(references.shape)}")
    return float(torch.mean((images.float() - references.float()) ** 2))


@torch.no_grad()
def lpips_distance(network: torch.nn.Module, images: torch.Tensor, references: torch.Tensor) -> float:
    """Mean LPIPS between images (N,3,H,W) in [0,1] and references, with an LPIPS network taking [-1,1] inputs."""
    if images.shape != references.shape:
        raise ValueError(f"shapes differ: {tuple(images.shape)} vs {tuple(references.shape)}")
    distances = network(images.float() * 2 - 1, references.float() * 2 - 1)
    return float(distances.reshape(images.shape[0], -1).mean())
