"""Pre-LN transformer decoder conditioned on slots by cross-attention (SLATE's decoder, shared with MOGENT).

Each block: x + SelfAttn(LN(x)) [causal for SLATE, bidirectional for MOGENT, optional 2-D RoPE] →
x + CrossAttn(LN(x), slots) → x + MLP(LN(x)); a final LayerNorm. With `normalize_input`, the first block starts
from x ← LN(x) (its self-attention LayerNorm), as the official SLATE code's first block. Attention runs through
`F.scaled_dot_product_attention` ("sdpa"), or written out as softmax(QKᵀ/√d)V ("eager": a reference, and a path for
machines where SDPA has no fast kernel). Blocks are transformers' `GradientCheckpointingLayer`s: with activation
checkpointing on (`model.gradient_checkpointing_enable()`) a training pass keeps only each block's input and
recomputes the block in the backward pass. For decoding loops the slots' cross-attention is prepared once per image —
as keys/values (`slot_kv`) or, cheaper, with the query and output projections folded into the slots
(`fold_slot_attention`) — and causal decoding keeps a preallocated self-attention K/V cache (`KVCache`). MOGENT's
cached sub-steps (ReCAP) keep the keys/values of every position from a full pass (`PositionKVCache`) and then compute
only some rows, against those.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer


def rotary_tables(
    positions: torch.Tensor, grid_width: int, head_dim: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D RoPE for flat token positions (T,) on a grid `grid_width` wide → cos, sin (T, head_dim).

    Half of each head rotates with the token's row, half with its column; dims j and j + head_dim/2 form a pair.
    """
    quarter = head_dim // 4
    freqs = base ** (-torch.arange(quarter, dtype=torch.float32, device=positions.device) / quarter)  # (hd/4,)
    rows = (positions // grid_width).float()[:, None] * freqs  # (T, hd/4)
    cols = (positions % grid_width).float()[:, None] * freqs
    angles = torch.cat([rows, cols], dim=-1)  # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, hd)
    return angles.cos(), angles.sin()


def apply_rotary(states: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotates (B,H,T,hd) by the tables of `rotary_tables`."""
    cos, sin = (table.to(states.dtype) for table in rotary)
    first, second = states.chunk(2, dim=-1)
    return states * cos + torch.cat([-second, first], dim=-1) * sin


def gather_rows(states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """states (B,T,d), positions (B,M) long → (B,M,d)."""
    return states.gather(1, positions[..., None].expand(-1, -1, states.shape[-1]))


@dataclass(frozen=True)
class FoldedSlotAttention:
    """One block's cross-attention to K slots with its query and output projections folded into the slots.

    With per-head keys k_hk and values v_hk (hd each), W_q,h / W_o,h the head's slices of the query and output
    projections: score_map row (h,k) = W_q,hᵀ k_hk / √hd and value_map row (h,k) = W_o,h v_hk, both (B,H·K,d).
    Cross-attention of normed states x is then Σ_hk softmax_k(x · score_map_hk) value_map_hk: two thin matmuls
    with H·K columns in place of two d×d projections and an attention call (the same function up to rounding).
    """

    score_map: torch.Tensor  # (B, H·K, d)
    value_map: torch.Tensor  # (B, H·K, d)
    num_heads: int


SlotConditioning = list[tuple[torch.Tensor, torch.Tensor]] | list[FoldedSlotAttention]
"""What the decoder attends to, per block: slot keys/values (`slot_kv`) or folded slots (`fold_slot_attention`)."""


class KVCache:
    """Preallocated self-attention keys/values of every layer: (B,H,max_length,hd) each, filled left to right."""

    def __init__(self, num_layers: int, batch_size: int, num_heads: int, max_length: int, head_dim: int, like):
        shape = (batch_size, num_heads, max_length, head_dim)
        self.keys = [like.new_empty(shape) for _ in range(num_layers)]
        self.values = [like.new_empty(shape) for _ in range(num_layers)]
        self.length = 0

    def append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stores (B,H,T,hd) new keys/values after the first `length` ones; returns all stored so far."""
        end = self.length + keys.shape[2]
        self.keys[layer][:, :, self.length : end] = keys
        self.values[layer][:, :, self.length : end] = values
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, num_tokens: int) -> None:
        self.length += num_tokens


class PositionKVCache:
    """Self-attention keys/values of every layer at every position, (B,H,L,hd) each, from a full pass of a
    bidirectional decoder. A later pass over some rows only (a cached sub-step) writes their fresh keys/values over
    the stored ones, in place, and attends to all L: the other positions' are stale, from the last full pass."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def is_filled(self) -> bool:
        return bool(self.keys)

    def clear(self) -> None:
        self.keys, self.values = [], []

    def update(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor, row_positions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stores a full pass's (B,H,L,hd) keys/values (`row_positions` None), or writes the (B,H,M,hd) ones of rows
        at `row_positions` (B,M) long over the stored ones; returns the layer's keys/values at all L positions."""
        if row_positions is None:
            if len(self.keys) != layer:
                raise ValueError(f"a full pass stores layers in order: expected layer {len(self.keys)}, got {layer}")
            self.keys.append(keys)
            self.values.append(values)
            return keys, values
        index = row_positions[:, None, :, None].expand(-1, keys.shape[1], -1, keys.shape[3])  # (B,H,M,hd)
        self.keys[layer].scatter_(2, index, keys)
        self.values[layer].scatter_(2, index, values)
        return self.keys[layer], self.values[layer]


def eager_attention(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, dropout: float, causal: bool
) -> torch.Tensor:
    """softmax(QKᵀ/√hd)V of (B,H,T,hd) queries over (B,H,S,hd) keys/values, written out: what
    `F.scaled_dot_product_attention` computes (the causal mask aligned top-left as its `is_causal`)."""
    scores = torch.matmul(queries, keys.transpose(-1, -2)) * queries.shape[-1] ** -0.5  # (B,H,T,S)
    if causal:
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = F.dropout(scores.softmax(dim=-1), dropout, training=dropout > 0)
    return torch.matmul(weights, values)


class MultiHeadAttention(nn.Module):
    """Bias-free q/k/v/o projections as SLATE's; attention by SDPA, or written out when `attn_implementation` is
    "eager" (set by `TransformerDecoder.set_attn_implementation`)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, d_model // num_heads, dropout
        self.attn_implementation = "sdpa"
        self.project_q = nn.Linear(d_model, d_model, bias=False)
        self.project_k = nn.Linear(d_model, d_model, bias=False)
        self.project_v = nn.Linear(d_model, d_model, bias=False)
        self.project_out = nn.Linear(d_model, d_model, bias=False)

    def split_heads(self, states: torch.Tensor) -> torch.Tensor:
        batch, length, _ = states.shape  # (B,T,d) → (B,H,T,hd)
        return states.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """source (B,S,d) → keys, values (B,H,S,hd)."""
        return self.split_heads(self.project_k(source)), self.split_heads(self.project_v(source))

    def fold_slots(self, source: torch.Tensor) -> FoldedSlotAttention:
        """source (B,K,d) → this attention over `source` with its q/o projections folded in (see the class)."""
        keys, values = self.keys_values(source)  # (B,H,K,hd)
        d_model = self.project_q.weight.shape[1]
        query_weight = self.project_q.weight.view(self.num_heads, self.head_dim, d_model)  # (H,hd,d)
        output_weight = self.project_out.weight.view(d_model, self.num_heads, self.head_dim)  # (d,H,hd)
        score_map = torch.einsum("hed,bhke->bhkd", query_weight, keys).flatten(1, 2) * self.head_dim**-0.5
        value_map = torch.einsum("bhke,dhe->bhkd", values, output_weight).flatten(1, 2)
        return FoldedSlotAttention(score_map, value_map, self.num_heads)

    def attend_folded(self, normed: torch.Tensor, folded: FoldedSlotAttention) -> torch.Tensor:
        """normed (B,T,d) attending over folded slots → (B,T,d) projected output (attention dropout as SDPA's)."""
        score_map, value_map = folded.score_map, folded.value_map
        if len(normed) == 1:  # one image: 2-D matmuls (CPU bf16 bmm copies a transposed operand, mm reads it)
            score_map, value_map, normed = score_map[0], value_map[0], normed[0]
        scores = torch.matmul(score_map, normed.transpose(-1, -2))  # (B,H·K,T), or (H·K,T) for one image
        *lead, rows, length = scores.shape
        # Softmax over the K slots of each head in a (B,H,K,T) layout: vectorised along T, not along K (≈ 17× faster
        # on CPU than over a last dimension of K ≤ 16: 50 vs 880 µs in fp32 at clevr's shape).
        weights = scores.view(*lead, folded.num_heads, -1, length).softmax(dim=-2).view(*lead, rows, length)
        weights = F.dropout(weights, self.dropout, self.training)
        return torch.matmul(weights.transpose(-1, -2), value_map).view(-1, length, value_map.shape[-1])

    def attend(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, causal: bool) -> torch.Tensor:
        """(B,H,T,hd) queries over (B,H,S,hd) → (B,T,d) projected output."""
        dropout = self.dropout if self.training else 0.0
        if self.attn_implementation == "eager":
            out = eager_attention(queries, keys, values, dropout, causal)
        else:
            out = F.scaled_dot_product_attention(queries, keys, values, dropout_p=dropout, is_causal=causal)
        batch, _, length, _ = out.shape
        return self.project_out(out.transpose(1, 2).reshape(batch, length, -1))


class DecoderBlock(GradientCheckpointingLayer):
    def __init__(
        self,
        d_model: int,
        num_heads: int,
        mlp_hidden_size: int,
        dropout: float,
        causal: bool,
        normalize_input: bool = False,
    ):
        """`normalize_input`: the residual stream continues from LN(x), not x (the official SLATE `is_first`)."""
        super().__init__()
        self.causal, self.normalize_input = causal, normalize_input
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm_cross = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_hidden_size), nn.ReLU(), nn.Linear(mlp_hidden_size, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        hidden: torch.Tensor,
        slot_kv: tuple[torch.Tensor, torch.Tensor] | FoldedSlotAttention,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        query_positions: torch.Tensor | None = None,
        cross_attention_weights: list[torch.Tensor] | None = None,
        position_cache: PositionKVCache | None = None,
        row_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """hidden (B,T,d); slot_kv: keys, values (B,H,K,hd) of this block's cross-attention, or the block's
        `FoldedSlotAttention` → (B,T,d).

        With `query_positions` (B,M) long, only those rows query (keys/values still come from all T) and the
        output is (B,M,d): the rows of the full output, for the last block when only some positions are read.
        With a `cross_attention_weights` list (and slot keys/values, not folded ones), the block appends its
        cross-attention weights over the slots (B,H,T,K) (before dropout; softmax over K).
        With `position_cache`, a full pass (`row_positions` None) stores this block's keys/values of all T; a pass
        whose T rows sit at `row_positions` (B,T) attends to the stored ones with its own written over them.
        """
        # Self-attention
        normed = self.norm_self(hidden)
        if self.normalize_input:
            hidden = normed
        attn = self.self_attention
        keys, values = attn.keys_values(normed)
        query_rotary = rotary
        if query_positions is not None:
            hidden, normed = gather_rows(hidden, query_positions), gather_rows(normed, query_positions)
            if rotary is not None:  # (T,hd) tables → (B,1,M,hd), broadcast over heads
                query_rotary = tuple(gather_rows(table.expand(len(hidden), -1, -1), query_positions)[:, None]
                                     for table in rotary)  # fmt: skip
        queries = attn.split_heads(attn.project_q(normed))
        if rotary is not None:
            queries, keys = apply_rotary(queries, query_rotary), apply_rotary(keys, rotary)
        causal = self.causal
        if cache is not None:
            keys, values = cache.append(layer, keys, values)
            causal = self.causal and queries.shape[2] > 1
        if position_cache is not None:
            keys, values = position_cache.update(layer, keys, values, row_positions)
        hidden = hidden + self.dropout(attn.attend(queries, keys, values, causal))
        # Cross-attention to the slots
        cross = self.cross_attention
        normed = self.norm_cross(hidden)
        if isinstance(slot_kv, FoldedSlotAttention):
            hidden = hidden + self.dropout(cross.attend_folded(normed, slot_kv))
        else:
            queries = cross.split_heads(cross.project_q(normed))
            if cross_attention_weights is not None:
                scores = torch.matmul(queries, slot_kv[0].transpose(-1, -2)) * cross.head_dim**-0.5  # (B,H,T,K)
                cross_attention_weights.append(scores.softmax(dim=-1))
            hidden = hidden + self.dropout(cross.attend(queries, *slot_kv, causal=False))
        # MLP
        return hidden + self.dropout(self.mlp(self.norm_mlp(hidden)))


class TransformerDecoder(nn.Module):
    """A stack of `DecoderBlock`s and a final LayerNorm."""

    ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")

    def __init__(
        self,
        d_model: int,
        num_layers: int,
        num_heads: int,
        mlp_hidden_size: int,
        dropout: float,
        causal: bool,
        rope_grid_width: int | None = None,
        normalize_input: bool = False,
        attn_implementation: str = "sdpa",
    ):
        """`normalize_input`: the first block starts from LN(x) (see `DecoderBlock`). `attn_implementation`: one of
        `ATTENTION_IMPLEMENTATIONS` (see `set_attn_implementation`)."""
        super().__init__()
        self.causal, self.rope_grid_width, self.num_heads = causal, rope_grid_width, num_heads
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, num_heads, mlp_hidden_size, dropout, causal, normalize_input and layer == 0)
            for layer in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.set_attn_implementation(attn_implementation)

    def set_attn_implementation(self, attn_implementation: str) -> None:
        """Every attention of the stack by "sdpa" (`F.scaled_dot_product_attention`) or "eager" (`eager_attention`).
        The folded cross-attention of decoding loops (`fold_slot_attention`) is its own explicit computation."""
        if attn_implementation not in self.ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"`attn_implementation` must be one of {self.ATTENTION_IMPLEMENTATIONS} (flash attention is not "
                f"supported), got {attn_implementation!r}"
            )
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                module.attn_implementation = attn_implementation

    def slot_kv(self, slots: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Cross-attention keys/values of every block for slots (B,K,d); compute once per image, reuse per step."""
        return [block.cross_attention.keys_values(slots) for block in self.blocks]

    def fold_slot_attention(self, slots: torch.Tensor) -> list[FoldedSlotAttention]:
        """Every block's cross-attention to slots (B,K,d) folded (see `FoldedSlotAttention`); a cheaper stand-in
        for `slot_kv` in decoding loops."""
        return [block.cross_attention.fold_slots(slots) for block in self.blocks]

    def new_cache(self, batch_size: int, max_length: int, like: torch.Tensor) -> KVCache:
        head_dim = self.blocks[0].self_attention.head_dim
        return KVCache(len(self.blocks), batch_size, self.num_heads, max_length, head_dim, like)

    def forward(
        self,
        hidden: torch.Tensor,
        slot_kv: SlotConditioning,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        query_positions: torch.Tensor | None = None,
        cross_attention_weights: list[torch.Tensor] | None = None,
        position_cache: PositionKVCache | None = None,
        row_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """hidden (B,T,d) embedded tokens; slot_kv from `slot_kv` or `fold_slot_attention`; positions (T,) flat
        grid indices, used by RoPE → (B,T,d). A `cross_attention_weights` list receives each block's
        cross-attention weights (B,H,T,K) (see `DecoderBlock.forward`).

        With `cache`, the T tokens continue the cached sequence and the cache grows by T. With `query_positions`
        (B,M) long, only those rows are computed in the last block (its keys/values still see all T) → (B,M,d),
        equal to the same rows of the full output. With `position_cache` (bidirectional decoding): a full pass
        stores every block's keys/values; given `row_positions` (B,T) long, the T rows of `hidden` are the tokens at
        those positions, computed in every block against the stored keys/values of the other positions (a cached
        sub-step).
        """
        rotary = None
        if self.rope_grid_width is not None:
            head_dim = self.blocks[0].self_attention.head_dim
            if row_positions is not None:  # (B·T, hd) tables → (B,1,T,hd), broadcast over heads
                tables = rotary_tables(row_positions.flatten(), self.rope_grid_width, head_dim)
                rotary = tuple(table.view(*row_positions.shape, head_dim)[:, None] for table in tables)
            else:
                if positions is None:
                    start = cache.length if cache is not None else 0
                    positions = torch.arange(start, start + hidden.shape[1], device=hidden.device)
                rotary = rotary_tables(positions, self.rope_grid_width, head_dim)
        last = len(self.blocks) - 1
        for layer, (block, kv) in enumerate(zip(self.blocks, slot_kv)):
            rows = query_positions if layer == last else None
            hidden = block(hidden, kv, rotary=rotary, cache=cache, layer=layer, query_positions=rows,
                           cross_attention_weights=cross_attention_weights, position_cache=position_cache,
                           row_positions=row_positions)  # fmt: skip
        if cache is not None:
            cache.advance(hidden.shape[1])
        return self.norm(hidden)
