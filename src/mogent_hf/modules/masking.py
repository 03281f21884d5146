"""The masking schedule γ, token sampling and seeded random numbers: the math shared by MOGENT's training and
MaskGIT decoding."""

from __future__ import annotations

import math

import torch


def mask_schedule(ratio: torch.Tensor | float, kind: str = "cosine") -> torch.Tensor:
    """γ(r): the fraction of tokens masked at progress r ∈ [0,1]; γ(0)=1, γ(1)=0, decreasing.

    "cosine": cos(π r / 2) (MaskGIT, the paper); "linear": 1 − r.
    """
    ratio = torch.as_tensor(ratio, dtype=torch.float64)
    if kind == "cosine":
        return torch.cos(ratio * math.pi / 2)
    if kind == "linear":
        return 1.0 - ratio
    raise ValueError(f"`kind` must be 'cosine' or 'linear', got {kind!r}")


def num_masked_tokens(ratio: torch.Tensor, num_tokens: int, kind: str = "cosine") -> torch.Tensor:
    """Training: ⌈γ(r)·L⌉ tokens masked for each r (B,), at least 1 and at most L → long (B,)."""
    counts = torch.ceil(mask_schedule(ratio, kind) * num_tokens - 1e-9).long()
    return counts.clamp(1, num_tokens)


def _draw(draw, shape: tuple[int, ...], generator, device) -> torch.Tensor:
    """`draw(shape)` (torch.rand or torch.randn) on each generator's own device, moved to `device`; a list of
    generators draws row b (of `shape[0]`) from generator b."""
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"`generator` list must have one generator per image ({shape[0]}), got {len(generator)}")
        return torch.stack([_draw(draw, tuple(shape[1:]), g, device) for g in generator])
    source = generator.device if generator is not None else device
    return draw(shape, generator=generator, device=source).to(device)


def uniform(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """U(0,1) numbers of `shape`. A list of generators (one per row of the batch) draws each row from its own
    generator, so an image's randomness does not depend on the other images of the batch."""
    return _draw(torch.rand, shape, generator, device)


def gaussian(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """N(0,1) numbers of `shape`; generators handled as in `uniform`."""
    return _draw(torch.randn, shape, generator, device)


def random_token_mask(
    batch_size: int,
    num_tokens: int,
    kind: str = "cosine",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """MOGENT's training mask: r ~ U(0,1) per image, then ⌈γ(r)·L⌉ positions chosen uniformly. → bool (B,L)."""
    ratio = uniform((batch_size,), generator, device)
    counts = num_masked_tokens(ratio, num_tokens, kind).to(device)
    ranks = uniform((batch_size, num_tokens), generator, device).argsort(dim=1).argsort(dim=1)
    return ranks < counts[:, None]


def sample_tokens(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples one token per row of `logits` (..., V) and returns (tokens (...) long, log-prob of each (...)).

    Exact categorical sampling by inverse CDF (one uniform number per row, not Gumbel noise over V); greedy
    argmax when `temperature` is 0. `top_k` keeps the k most likely codes. Log-probs are those of the
    temperature-scaled, top-k-filtered distribution (for temperature 0: of the plain softmax). A list of generators
    gives one per row of the leading dimension.
    """
    logits = logits.float()
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"`top_k` must be >= 1 or None, got {top_k}")
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if temperature == 0:
        log_probs = logits.log_softmax(dim=-1)
        tokens = log_probs.argmax(dim=-1)
    else:
        log_probs = (logits / temperature).log_softmax(dim=-1)
        cdf = log_probs.exp().cumsum(dim=-1)
        draws = uniform(tuple(cdf.shape[:-1]) + (1,), generator, cdf.device) * cdf[..., -1:]
        tokens = torch.searchsorted(cdf, draws, right=True).squeeze(-1).clamp_max(logits.shape[-1] - 1)
    return tokens, log_probs.gather(-1, tokens[..., None]).squeeze(-1)
