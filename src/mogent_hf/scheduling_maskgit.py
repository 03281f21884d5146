"""MaskGIT's iterative parallel decoding as a diffusers scheduler: which sampled tokens to keep after each step.

It sees only logits and tokens. Step i (0-based, of T) samples every still-masked token, scores each sample by
its log-probability plus `choice_temperature`·(1 − i/T)·Gumbel noise, and re-masks the lowest-scoring ones so
that exactly ⌊γ((i+1)/T)·M⌋ stay masked, M being the number masked before the first step (M = L when decoding
from an empty canvas). Tokens given at the start are never changed; none is masked after the last step.
The schedule γ is `mogent_hf.modules.mask_schedule`, the one MOGENT trains with.

Timesteps count down, as in every diffusers scheduler (aMUSEd's token scheduler included): `timesteps` is
T−1, …, 1, 0, and the step at timestep t = T−1−i is step i, after which ⌊γ(1 − t/T)·M⌋ tokens stay masked (none
after t = 0). Callbacks see the step index i counting up and the timestep t counting down, as in diffusers.

Faster strategies (all off by default, which is the paper's decoding, bit for bit):
- `unmasking_order="halton"`: the positions unmasked at each step are fixed in advance, the next ones of a 2-D Halton
  sequence over the token grid (Besnier et al. 2025, Halton-MaskGIT), the same for every image: a step needs logits
  only where it unmasks, and cached sub-steps (`MOGENTPipeline`'s `cache_interval`) know their queries ahead.
- `confidence_threshold=p`: a step also unmasks every token sampled with probability ≥ p (Fast-dLLM's threshold
  rule); the schedule's count stays the minimum, so T steps remain the cap, and an image may finish early.
Outside the default (either option set, or a step whose `query_positions` leave some masked positions out), the
sampler's random number for position p is drawn per position, (B,L) per step, and read at the queried rows: an
image's tokens then do not depend on which rows a step queried, nor on the rest of the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, SchedulerMixin  # noqa: F401  (diffusers' loader looks SchedulerMixin up here)
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from .modules.masking import gumbel_noise, mask_schedule, sample_tokens, uniform


@dataclass
class MaskGITSchedulerOutput(BaseOutput):
    """
    Args:
        prev_sample (`torch.LongTensor` (B,L)): tokens after this step, still-masked positions = `mask_token_id`.
        pred_original_sample (`torch.LongTensor` (B,L)): every masked position that the step queried filled with its
            sampled token (all of them, unless `query_positions` left some out).
        confidence (`torch.FloatTensor` (B,L)): the score the step ranked positions by (higher is unmasked first):
            the confidence, or minus the Halton rank; +inf where a token was kept, −inf where masked and not queried.
    """

    prev_sample: torch.LongTensor
    pred_original_sample: torch.LongTensor
    confidence: torch.FloatTensor | None = None


def num_masked_after_step(step: int, num_steps: int, num_masked_start: torch.Tensor, kind: str = "cosine"):
    """⌊γ((step+1)/T)·M⌋ for M (B,) long → long (B,): how many tokens stay masked after `step` (0-based)."""
    fraction = mask_schedule((step + 1) / num_steps, kind).item()
    return torch.floor(fraction * num_masked_start.double() + 1e-9).long()


def remask_lowest_confidence(confidence: torch.Tensor, num_to_mask: torch.Tensor) -> torch.Tensor:
    """confidence (B,L) (+inf where a token must stay), counts (B,) → bool (B,L), True at the `num_to_mask[b]`
    lowest-confidence positions of each row (ties broken by position)."""
    ranks = confidence.argsort(dim=1, stable=True).argsort(dim=1)
    return ranks < num_to_mask[:, None].to(ranks.device)


def top_positions(priority: torch.Tensor, counts: torch.Tensor) -> torch.LongTensor:
    """priority (B,L), counts (B,) long → long (B, max counts): the `counts[b]` highest-priority positions of row b,
    best first (ties by position). Shorter rows repeat their first position: a repeated query computes the same row
    twice and writes the same result twice, so padding changes nothing of a row's result."""
    order = priority.argsort(dim=1, descending=True, stable=True)[:, : int(counts.max())]
    columns = torch.arange(order.shape[1], device=order.device)
    return torch.where(columns < counts[:, None].to(order.device), order, order[:, :1])


def halton_order(grid_size: int) -> torch.LongTensor:
    """Flat positions (grid_size²,) of a square token grid in the order the 2-D Halton sequence (bases 2 for the row,
    3 for the column) first visits their cells: every prefix is spread evenly over the grid (Halton-MaskGIT's
    `build_halton_mask`, in exact integer arithmetic)."""
    if grid_size < 1:
        raise ValueError(f"`grid_size` must be >= 1, got {grid_size}")
    order, seen, index = [], set(), 0
    while len(order) < grid_size**2:
        row, col = (_radical_inverse_cell(index, base, grid_size) for base in (2, 3))
        if (row, col) not in seen:
            seen.add((row, col))
            order.append(row * grid_size + col)
        index += 1
    return torch.tensor(order)


def _radical_inverse_cell(index: int, base: int, grid_size: int) -> int:
    """⌊grid_size · φ_base(index)⌋, φ the van der Corput radical inverse, computed on integers."""
    numerator, denominator = 0, 1
    while index:
        index, digit = divmod(index, base)
        numerator, denominator = numerator * base + digit, denominator * base
    return numerator * grid_size // denominator


class MaskGITScheduler(SchedulerMixin, ConfigMixin):
    """MaskGIT decoding schedule (Chang et al. 2022), as MOGENT decodes.

    Args:
        mask_token_id (`int`): the [MASK] id in the token sequence (MOGENT: `config.mask_token_id` = V).
        masking_schedule (`str`): γ, "cosine" (default) or "linear".
        choice_temperature (`float`): scale of the Gumbel noise on the confidence (0 = pure confidence, the
            paper's best, Fig. 9). Not used by the Halton order.
        unmasking_order (`str`): which masked positions a step unmasks: "confidence" (default, MaskGIT's: the most
            confident samples) or "halton" (the next ones of a fixed Halton order over the grid; `halton_order`).
        confidence_threshold (`float`, optional): also unmask every sample whose probability is ≥ this, in (0, 1]
            (None: off, the fixed schedule).
    """

    config_name = "scheduler_config.json"
    order = 1

    @register_to_config
    def __init__(
        self,
        mask_token_id: int,
        masking_schedule: str = "cosine",
        choice_temperature: float = 0.0,
        unmasking_order: str = "confidence",
        confidence_threshold: float | None = None,
    ):
        if masking_schedule not in ("cosine", "linear"):
            raise ValueError(f"`masking_schedule` must be 'cosine' or 'linear', got {masking_schedule!r}")
        if choice_temperature < 0:
            raise ValueError(f"`choice_temperature` must be >= 0, got {choice_temperature}")
        if unmasking_order not in ("confidence", "halton"):
            raise ValueError(f"`unmasking_order` must be 'confidence' or 'halton', got {unmasking_order!r}")
        if confidence_threshold is not None and not 0 < confidence_threshold <= 1:
            raise ValueError(f"`confidence_threshold` must be in (0, 1] or None, got {confidence_threshold}")
        self.num_inference_steps: int | None = None
        self.timesteps: torch.Tensor | None = None
        self._halton_ranks: dict[int, torch.Tensor] = {}

    @property
    def is_paper_default(self) -> bool:
        """Confidence order without a threshold: MaskGIT's decoding as the paper runs it."""
        return self.config.unmasking_order == "confidence" and self.config.confidence_threshold is None

    def halton_priority(self, num_tokens: int, device: torch.device | str | None = None) -> torch.Tensor:
        """(L,) float: minus each position's rank in `halton_order` of the √L × √L grid (higher = unmasked first)."""
        if num_tokens not in self._halton_ranks:
            grid_size = math.isqrt(num_tokens)
            if grid_size**2 != num_tokens:
                raise ValueError(f"the Halton order needs a square token grid, got L = {num_tokens} tokens")
            order = halton_order(grid_size)
            self._halton_ranks[num_tokens] = torch.empty_like(order).scatter_(0, order, torch.arange(num_tokens))
        return -self._halton_ranks[num_tokens].to(device, torch.float32)

    def step_index(self, timestep: int | torch.Tensor) -> int:
        """The step i = T−1−t of timestep t (checked to be one of `timesteps`)."""
        if self.num_inference_steps is None:
            raise ValueError("call `set_timesteps` before `step`")
        num_steps = self.num_inference_steps
        if not 0 <= int(timestep) < num_steps:
            raise ValueError(f"`timestep` must be in [0, {num_steps}), got {int(timestep)}")
        return num_steps - 1 - int(timestep)

    def positions_to_unmask(
        self,
        sample: torch.LongTensor,
        timestep: int | torch.Tensor,
        num_masked_start: torch.Tensor | None = None,
        confidence: torch.Tensor | None = None,
        num_steps: int = 1,
    ) -> torch.LongTensor:
        """The masked positions of `sample` (B,L) that the `num_steps` steps from `timestep` on unmask, by the
        schedule's counts and the unmasking order: the Halton order, or `confidence` (B,L) (a step's output
        `confidence`, with `sample` the tokens before that step) → long (B,G), best first, rows padded as in
        `top_positions`. A `confidence_threshold`'s extra tokens are not counted."""
        step = self.step_index(timestep)
        masked = sample == self.config.mask_token_id
        if num_masked_start is None:
            num_masked_start = torch.full((sample.shape[0],), sample.shape[1], device=sample.device)
        last = min(step + num_steps, self.num_inference_steps) - 1
        kept = num_masked_after_step(last, self.num_inference_steps, num_masked_start, self.config.masking_schedule)
        counts = masked.sum(1) - torch.minimum(kept.to(masked.device), masked.sum(1))
        if self.config.unmasking_order == "halton":
            priority = self.halton_priority(sample.shape[1], sample.device).expand(sample.shape[0], -1)
        elif confidence is None:
            raise ValueError("`confidence` is needed to rank positions in the confidence order")
        else:
            priority = confidence
        return top_positions(priority.masked_fill(~masked, -math.inf), counts)

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        """Timesteps T−1, ..., 1, 0, counting down as diffusers' schedulers do (timestep t is step T−1−t)."""
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be an integer >= 1, got {num_inference_steps!r}")
        self.num_inference_steps = num_inference_steps
        self.timesteps = torch.arange(num_inference_steps, device=device).flip(0)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.LongTensor,
        num_masked_start: torch.Tensor | None = None,
        query_positions: torch.Tensor | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
    ) -> MaskGITSchedulerOutput | tuple:
        """One decoding step.

        Args:
            model_output (`torch.FloatTensor`): logits over the V codes, (B,L,V), or (B,M,V) at `query_positions`.
            timestep (`int`): one of `timesteps`, t in [0, T): the step T−1−t.
            sample (`torch.LongTensor` (B,L)): current tokens, [MASK] = `mask_token_id`.
            num_masked_start (`torch.LongTensor` (B,), optional): masked tokens before the first step; default L.
            query_positions (`torch.LongTensor` (B,M), optional): positions of the rows of `model_output`; must
                include every masked position that the step unmasks (the others stay masked). A position may repeat
                (with the same logits).
            temperature (`float`): logit temperature of the sampler (0 = argmax). top_k (`int`, optional).
            generator: a `torch.Generator` or one per image.
        """
        step = self.step_index(timestep)
        num_steps = self.num_inference_steps
        mask_id = self.config.mask_token_id
        batch_size, num_tokens = sample.shape
        if query_positions is None:
            query_positions = torch.arange(num_tokens, device=sample.device).expand(batch_size, -1)
        if model_output.shape[:2] != query_positions.shape:
            raise ValueError(
                f"`model_output` must have shape (B, M, V) matching positions {tuple(query_positions.shape)}, "
                f"got {tuple(model_output.shape)}"
            )
        if mask_id < model_output.shape[-1]:
            raise ValueError(f"`model_output` must cover only the codes (< {mask_id}), got {model_output.shape[-1]}")
        masked = sample == mask_id  # (B,L)
        unqueried = masked.clone().scatter_(1, query_positions, False)  # masked, with no logits this step
        if num_masked_start is None:
            num_masked_start = torch.full((batch_size,), num_tokens, device=sample.device)
        uniforms = None
        if temperature > 0 and (not self.is_paper_default or bool(unqueried.any())):
            uniforms = uniform((batch_size, num_tokens), generator, sample.device).gather(1, query_positions)
        if query_positions.shape[1] == 0:
            sampled, log_probs = query_positions, model_output.new_zeros(query_positions.shape, dtype=torch.float32)
        elif uniforms is None:  # the paper's decoding, exactly as before the faster strategies
            sampled, log_probs = sample_tokens(model_output, temperature, top_k, generator)  # (B,M)
        else:
            sampled, log_probs = sample_tokens(model_output, temperature, top_k, generator, uniforms=uniforms)
        predicted = sample.scatter(1, query_positions, sampled)
        predicted = torch.where(masked, predicted, sample)
        if self.config.unmasking_order == "halton":
            confidence = self.halton_priority(num_tokens, sample.device).expand(batch_size, -1)
        else:
            confidence = torch.full(sample.shape, math.inf, device=sample.device)
            confidence = confidence.scatter(1, query_positions, log_probs.float())
            if self.config.choice_temperature > 0:
                noise = gumbel_noise(tuple(sample.shape), generator, sample.device)
                confidence = confidence + self.config.choice_temperature * (1.0 - step / num_steps) * noise
        confidence = confidence.masked_fill(~masked, math.inf).masked_fill(unqueried, -math.inf)
        num_to_mask = num_masked_after_step(step, num_steps, num_masked_start, self.config.masking_schedule)
        num_to_mask = torch.minimum(num_to_mask.to(masked.device), masked.sum(1))
        threshold = self.config.confidence_threshold
        if threshold is not None:  # every sample at least this probable is kept, the schedule's count at least
            sure = torch.zeros_like(masked).scatter_(1, query_positions, log_probs >= math.log(threshold)) & masked
            num_to_mask = torch.minimum(num_to_mask, masked.sum(1) - sure.sum(1))
            confidence = confidence.masked_fill(sure, math.inf)
        if bool((unqueried.sum(1) > num_to_mask).any()):
            raise ValueError("`query_positions` must include every masked position that this step unmasks")
        new_tokens = predicted.masked_fill(remask_lowest_confidence(confidence, num_to_mask), mask_id)
        if not return_dict:
            return (new_tokens, predicted)
        return MaskGITSchedulerOutput(prev_sample=new_tokens, pred_original_sample=predicted, confidence=confidence)


__all__ = [
    "MaskGITScheduler",
    "MaskGITSchedulerOutput",
    "halton_order",
    "num_masked_after_step",
    "remask_lowest_confidence",
    "top_positions",
]
