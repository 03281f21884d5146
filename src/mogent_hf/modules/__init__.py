"""Parts shared by MOGENT and SLATE: DVAE tokenizer, slot encoder, transformer decoder, masking schedule."""

from .dvae import DVAE
from .masking import mask_schedule, num_masked_tokens, random_token_mask, sample_tokens
from .slot_attention import SlotAttention, SlotEncoder
from .transformer import KVCache, TransformerDecoder

__all__ = [
    "DVAE",
    "KVCache",
    "SlotAttention",
    "SlotEncoder",
    "TransformerDecoder",
    "mask_schedule",
    "num_masked_tokens",
    "random_token_mask",
    "sample_tokens",
]
