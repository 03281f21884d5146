"""SLATE's decoding as the official code runs it (singhgautam/slate @06f63c5, `SLATE.reconstruct_autoregressive`),
op for op, on the weights of our `SLATEModel`: the paper's Table-1 baseline as its authors' code decodes.

Our `generate_tokens(use_cache=False)` runs the same algorithm — every step re-embeds and re-decodes the whole
prefix, projects the slots to keys/values in every cross-attention, applies the head to every prefix position —
with our kernels (SDPA, token ids). The official code also, at each of its L steps (prefix length t):

- keeps the prefix as one-hot vectors (B,t,V+1), grows them by `torch.cat` and embeds them through
  `OneHotDictionary` (argmax over V+1, then the embedding lookup); the generated tokens also grow by `torch.cat`
  as one-hot vectors (B,t,V), the form its DVAE decoder takes;
- attends by matmul → `masked_fill` with a stored (t,t) causal mask → softmax → matmul (its `MultiHeadAttention`,
  written before SDPA), so the masked half of every score matrix is computed too;
- picks the next token by argmax of `out(decoder_output)[:, -1:]` and appends it one-hot.

Written from that code's structure as the project's reference notes describe it (shared/reference/
object_centric_notes.md §4, decoder_speed_notes.md) and as we know it; not diffed against its source here (no
network on our machines): whoever has the source at hand, please check the list above against it.

Greedy, as the official loop: the tokens equal `generate_tokens(slots, use_cache=False)` (up to ties in fp32
rounding). The official first block continues its residual stream from the LayerNorm of its input (`is_first`);
ours does when the config says `normalize_decoder_input=True` (not the default), and so does this loop. Dropout is
left out (eval).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mogent_hf import SLATEModel
from mogent_hf.modules.transformer import DecoderBlock, MultiHeadAttention


def official_attention(
    attention: MultiHeadAttention, queries: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The official `MultiHeadAttention.forward`: queries (B,T,d) over source (B,S,d), bool mask (T,S) True =
    blocked → (B,T,d)."""
    batch, length, _ = queries.shape
    q = attention.split_heads(attention.project_q(queries))  # (B,H,T,hd)
    k = attention.split_heads(attention.project_k(source))
    v = attention.split_heads(attention.project_v(source))
    q = q * q.shape[-1] ** -0.5
    scores = torch.matmul(q, k.transpose(-1, -2))  # (B,H,T,S)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    out = torch.matmul(weights, v).transpose(1, 2).reshape(batch, length, -1)
    return attention.project_out(out)


def official_block(block: DecoderBlock, hidden: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The official `TransformerDecoderBlock.forward` (pre-LN) on our block's weights: hidden (B,T,d), projected
    slots (B,K,d), causal mask (T,T) → (B,T,d)."""
    normed = block.norm_self(hidden)
    if block.normalize_input:  # the official `is_first` block
        hidden = normed
    hidden = hidden + official_attention(block.self_attention, normed, normed, mask)
    hidden = hidden + official_attention(block.cross_attention, block.norm_cross(hidden), slots)
    return hidden + block.mlp(block.norm_mlp(hidden))


@torch.no_grad()
def official_slate_tokens(model: SLATEModel, slots: torch.Tensor) -> torch.Tensor:
    """Decodes slots (B,K,slot_size) into DVAE tokens (B,L) by the official SLATE loop (see the module docstring)."""
    if model.config.position_encoding != "learned":
        raise ValueError(f"the official loop has learned positions, got position_encoding="
                         f"{model.config.position_encoding!r}")  # fmt: skip
    model.check_slots(slots)
    num_tokens, width = model.config.num_tokens, model.config.vocab_size + 1
    causal_mask = torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=slots.device), diagonal=1)
    projected = model.slot_projection(slots)  # once, before the loop (`slot_proj`)
    one_hot = slots.new_zeros(slots.shape[0], 1, width)  # the [BOS] input, one-hot
    one_hot[..., model.config.bos_token_id] = 1.0
    generated = slots.new_zeros(0)  # `z_gen`: one-hot (B,t,V) once the first token is in
    for _ in range(num_tokens):
        length = one_hot.shape[1]
        hidden = model.embed_tokens(one_hot.argmax(dim=-1), slice(0, length))  # dictionary + positions (+ dropout)
        for block in model.decoder.blocks:
            hidden = official_block(block, hidden, projected, causal_mask[:length, :length])
        logits = model.head(model.decoder.norm(hidden))  # (B,t,V): every prefix position
        next_token = logits[:, -1:].argmax(dim=-1)  # (B,1)
        generated = torch.cat([generated, F.one_hot(next_token, width - 1).to(generated.dtype)], dim=1)
        one_hot = torch.cat([one_hot, F.one_hot(next_token, width).to(one_hot.dtype)], dim=1)
    return generated.argmax(dim=-1)
