"""Parts shared by MOGENT and SLATE: DVAE tokenizer, slot encoder, transformer decoder, masking schedule."""

from .dvae import DVAE
from .feature_encoder import ConvFeatureEncoder, SoftPositionEmbedding
from .masking import gaussian, gumbel_noise, mask_schedule, num_masked_tokens, random_token_mask, sample_tokens, uniform
from .mixture_decoder import SlotMixtureTokenDecoder
from .slot_attention import SlotAttention, SlotEncoder
from .transformer import FoldedSlotAttention, KVCache, PositionKVCache, TransformerDecoder

__all__ = [
    "ConvFeatureEncoder",
    "SoftPositionEmbedding",
    "DVAE",
    "FoldedSlotAttention",
    "KVCache",
    "PositionKVCache",
    "SlotAttention",
    "SlotEncoder",
    "SlotMixtureTokenDecoder",
    "TransformerDecoder",
    "gaussian",
    "gumbel_noise",
    "mask_schedule",
    "num_masked_tokens",
    "random_token_mask",
    "sample_tokens",
    "uniform",
]
