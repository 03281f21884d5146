"""Online self-distillation of Slot Attention from the decoder (after SPOT, Kakogeorgiou et al. 2024): the decoder's
cross-attention over the slots, detached, gives each token a hard slot label; the labels are matched to Slot
Attention's own argmax by the Hungarian algorithm on mask IoU, and train Slot Attention's logits by cross-entropy.
SPOT distils a frozen teacher model's decoder; here the teacher is the model's own decoder in the same pass.
`select_decoder_attention` picks the decoder block read, here and in the pipelines' `segment`."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .grids import resize_grid


def select_decoder_attention(maps: torch.Tensor, decoder_block: int | None) -> torch.Tensor:
    """Each block's cross-attention (num_blocks,B,K,L) → one block's (B,K,L) (an index, negative from the last),
    or the blocks' mean with None."""
    if decoder_block is None:
        return maps.mean(dim=0)
    num_blocks = maps.shape[0]
    if not isinstance(decoder_block, int) or not -num_blocks <= decoder_block < num_blocks:
        raise ValueError(
            f"`decoder_block` must be None (the blocks' mean) or a block index in [{-num_blocks}, {num_blocks}), "
            f"got {decoder_block!r}"
        )
    return maps[decoder_block]


def matched_teacher_labels(teacher_labels: torch.Tensor, student_labels: torch.Tensor, num_slots: int) -> torch.Tensor:
    """Hard labels (B,L) long in [0,K) of a teacher and a student → the teacher's labels renamed to the student's
    slots: per image, teacher slot i becomes the student slot matched to it by the Hungarian algorithm (scipy's
    `linear_sum_assignment`) on the IoU of their masks (maximised), as SPOT's `att_matching`."""
    from scipy.optimize import linear_sum_assignment  # needed only when training with distillation

    teacher = F.one_hot(teacher_labels, num_slots).float()  # (B,L,K)
    student = F.one_hot(student_labels, num_slots).float()
    intersection = torch.einsum("blt,bls->bts", teacher, student)  # (B,K teacher,K student)
    union = teacher.sum(1)[:, :, None] + student.sum(1)[:, None, :] - intersection
    iou = (intersection / union.clamp_min(1)).cpu().numpy()
    mapping = torch.empty(teacher_labels.shape[0], num_slots, dtype=torch.long)
    for image, costs in enumerate(iou):
        rows, cols = linear_sum_assignment(costs, maximize=True)
        mapping[image, torch.from_numpy(rows)] = torch.from_numpy(cols)
    return mapping.to(teacher_labels.device).gather(1, teacher_labels)


def slot_distillation_loss(slot_logits: torch.Tensor, teacher_attention: torch.Tensor) -> torch.Tensor:
    """Slot Attention's logits (B,K,N) (before the softmax over slots) and the teacher's maps (B,K,L) → the mean
    cross-entropy over cells of the logits against the teacher's argmax, matched to the student's argmax
    (`matched_teacher_labels`). A teacher on a coarser grid (the tokens, under a finer CNN grid) is resized
    bilinearly onto the student's before the argmax. Gradients reach the logits only: the teacher is detached."""
    teacher_attention = resize_grid(teacher_attention.detach(), slot_logits.shape[-1])
    teacher_labels = teacher_attention.argmax(dim=1)  # (B,N)
    targets = matched_teacher_labels(teacher_labels, slot_logits.detach().argmax(dim=1), slot_logits.shape[1])
    return F.cross_entropy(slot_logits.float(), targets)
