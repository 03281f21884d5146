"""MaskGIT's iterative parallel decoding as a diffusers scheduler: which sampled tokens to keep after each step.

It sees only logits and tokens. Step i (0-based, of T) samples every still-masked token, scores each sample by
its log-probability plus `choice_temperature`·(1 − i/T)·Gumbel noise, and re-masks the lowest-scoring ones so
that exactly ⌊γ((i+1)/T)·M⌋ stay masked, M being the number masked before the first step (M = L when decoding
from an empty canvas). Tokens given at the start are never changed; none is masked after the last step.
The schedule γ is `mogent_hf.modules.mask_schedule`, the one MOGENT trains with.

Timesteps count down, as in every diffusers scheduler (aMUSEd's token scheduler included): `timesteps` is
T−1, …, 1, 0, and the step at timestep t = T−1−i is step i, after which ⌊γ(1 − t/T)·M⌋ tokens stay masked (none
after t = 0). Callbacks see the step index i counting up and the timestep t counting down, as in diffusers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, SchedulerMixin  # noqa: F401  (diffusers' loader looks SchedulerMixin up here)
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from .modules.masking import gumbel_noise, mask_schedule, sample_tokens


@dataclass
class MaskGITSchedulerOutput(BaseOutput):
    """
    Args:
        prev_sample (`torch.LongTensor` (B,L)): tokens after this step, still-masked positions = `mask_token_id`.
        pred_original_sample (`torch.LongTensor` (B,L)): every masked position filled with its sampled token.
    """

    prev_sample: torch.LongTensor
    pred_original_sample: torch.LongTensor


def num_masked_after_step(step: int, num_steps: int, num_masked_start: torch.Tensor, kind: str = "cosine"):
    """⌊γ((step+1)/T)·M⌋ for M (B,) long → long (B,): how many tokens stay masked after `step` (0-based)."""
    fraction = mask_schedule((step + 1) / num_steps, kind).item()
    return torch.floor(fraction * num_masked_start.double() + 1e-9).long()


def remask_lowest_confidence(confidence: torch.Tensor, num_to_mask: torch.Tensor) -> torch.Tensor:
    """confidence (B,L) (+inf where a token must stay), counts (B,) → bool (B,L), True at the `num_to_mask[b]`
    lowest-confidence positions of each row (ties broken by position)."""
    ranks = confidence.argsort(dim=1, stable=True).argsort(dim=1)
    return ranks < num_to_mask[:, None].to(ranks.device)


class MaskGITScheduler(SchedulerMixin, ConfigMixin):
    """MaskGIT decoding schedule (Chang et al. 2022), as MOGENT decodes.

    Args:
        mask_token_id (`int`): the [MASK] id in the token sequence (MOGENT: `config.mask_token_id` = V).
        masking_schedule (`str`): γ, "cosine" (default) or "linear".
        choice_temperature (`float`): scale of the Gumbel noise on the confidence (0 = pure confidence, the
            paper's best, Fig. 9).
    """

    config_name = "scheduler_config.json"
    order = 1

    @register_to_config
    def __init__(self, mask_token_id: int, masking_schedule: str = "cosine", choice_temperature: float = 0.0):
        if masking_schedule not in ("cosine", "linear"):
            raise ValueError(f"`masking_schedule` must be 'cosine' or 'linear', got {masking_schedule!r}")
        if choice_temperature < 0:
            raise ValueError(f"`choice_temperature` must be >= 0, got {choice_temperature}")
        self.num_inference_steps: int | None = None
        self.timesteps: torch.Tensor | None = None

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
                include every masked position.
            temperature (`float`): logit temperature of the sampler (0 = argmax). top_k (`int`, optional).
            generator: a `torch.Generator` or one per image.
        """
        if self.num_inference_steps is None:
            raise ValueError("call `set_timesteps` before `step`")
        num_steps = self.num_inference_steps
        if not 0 <= int(timestep) < num_steps:
            raise ValueError(f"`timestep` must be in [0, {num_steps}), got {int(timestep)}")
        step = num_steps - 1 - int(timestep)
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
        if num_masked_start is None:
            num_masked_start = torch.full((batch_size,), num_tokens, device=sample.device)
        sampled, log_probs = sample_tokens(model_output, temperature, top_k, generator)  # (B,M)
        predicted = sample.scatter(1, query_positions, sampled)
        predicted = torch.where(masked, predicted, sample)
        if not torch.equal(predicted != mask_id, torch.ones_like(masked)):
            raise ValueError("`query_positions` must include every masked position of `sample`")
        confidence = torch.full(sample.shape, math.inf, device=sample.device)
        confidence = confidence.scatter(1, query_positions, log_probs.float())
        if self.config.choice_temperature > 0:
            noise = gumbel_noise(tuple(sample.shape), generator, sample.device)
            confidence = confidence + self.config.choice_temperature * (1.0 - step / num_steps) * noise
        confidence = confidence.masked_fill(~masked, math.inf)
        num_to_mask = num_masked_after_step(step, num_steps, num_masked_start, self.config.masking_schedule)
        num_to_mask = torch.minimum(num_to_mask.to(masked.device), masked.sum(1))
        new_tokens = predicted.masked_fill(remask_lowest_confidence(confidence, num_to_mask), mask_id)
        if not return_dict:
            return (new_tokens, predicted)
        return MaskGITSchedulerOutput(prev_sample=new_tokens, pred_original_sample=predicted)


__all__ = ["MaskGITScheduler", "MaskGITSchedulerOutput", "num_masked_after_step", "remask_lowest_confidence"]
