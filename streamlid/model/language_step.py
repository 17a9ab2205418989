"""Whisper's language step in plain PyTorch: the decoder's first position, which names the language.

Whisper detects the language from the decoder's first step: the start-of-transcript token attends to the
encoded audio through six decoder layers, and the logits of the 99 language tokens are read off (the
output projection is the token embedding). With one token, self-attention is the value projection alone.
The same position also gives Whisper's no-speech logit.

Whisper always runs it on 30 s of audio (the speech, then padding); here it runs on encoder outputs of any
length, and a batch of mixed lengths, given each one's number of encoder positions, gives what each gives
alone. The weights come from tools/convert_whisper_encoder.py (OpenAI's Whisper base, MIT licence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DecoderLayer(nn.Module):
    def __init__(self, width: int = 512, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.self_ln, self.self_v, self.self_out = nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width)
        self.cross_ln, self.cross_q = nn.LayerNorm(width), nn.Linear(width, width)
        self.cross_kv, self.cross_out = nn.Linear(width, 2 * width), nn.Linear(width, width)
        self.mlp_ln = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, audio: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, width): the one token; audio (B, T, width): the encoder's output; key_mask (B, T): the
        positions that hold audio (None: all of them)."""
        x = x + self.self_out(self.self_v(self.self_ln(x)))
        b, t, w = audio.shape
        q = self.cross_q(self.cross_ln(x)).view(b, self.heads, 1, w // self.heads)
        k, v = self.cross_kv(audio).view(b, t, 2, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).reshape(b, w)
        x = x + self.cross_out(y)
        return x + self.mlp(self.mlp_ln(x))


class LanguageDetector(nn.Module):
    """Encoder output (B, T, width) -> logits over the language rows (B, languages).

    `codes` are the languages of the rows (Whisper's own codes for the converted weights, ISO 639-3 in a
    streamlid model). `no_speech` is Whisper's no-speech token's embedding, kept with the weights; the
    speech check reads the whole hidden state instead (calibration.Calibration).
    """

    def __init__(self, codes: list[str], width: int = 512, heads: int = 8, layers: int = 6) -> None:
        super().__init__()
        self.codes = codes
        self.register_buffer("start", torch.zeros(width))  # the start token's embedding + position 0
        self.languages = nn.Parameter(torch.zeros(len(codes), width))  # the language tokens' embeddings
        self.register_buffer("no_speech", torch.zeros(width))
        self.layers = nn.ModuleList(DecoderLayer(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)

    def hidden(self, audio: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The token's final hidden state (B, width), the one the output rows are read against."""
        x = self.start.to(audio.dtype).expand(audio.shape[0], -1)
        for layer in self.layers:
            x = layer(x, audio, key_mask)
        return self.ln(x)

    def forward(self, audio: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.hidden(audio, key_mask)
        return h @ self.languages.to(h.dtype).T
