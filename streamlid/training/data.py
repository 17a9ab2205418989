"""Training data: manifests, speaker-held-out validation, decoding, balanced sampling and crops.

Clips are decoded once into one int16 "bank", ordered by (language, speaker), so a crop that runs past
the end of a clip continues into the next clip of the same speaker: short clips (digits, words) are
joined into longer windows of one voice instead of being padded with silence. Crops, speed
perturbation and sampling are tensor operations and run on the GPU.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.audio import SAMPLE_RATE, load_mono_16k
from .manifest import Clip


def select_languages(clips: list[Clip], min_minutes: float, min_speakers: int) -> list[str]:
    """Languages with enough real (not synthetic) training speech from enough distinct speakers."""
    minutes: dict[str, float] = defaultdict(float)
    speakers: dict[str, set[str]] = defaultdict(set)
    for c in clips:
        if not c.synthetic:
            minutes[c.language] += c.duration / 60
            speakers[c.language].add(c.speaker)
    return sorted(lang for lang in minutes if minutes[lang] >= min_minutes and len(speakers[lang]) >= min_speakers)


def holdout_speakers(
    clips: list[Clip], per_source: dict[str, int], synth_per_language: int, seed: int, whole: list[str] = ()
) -> set[str]:
    """Pick whole speakers for validation: `per_source[source]` speakers from each named source,
    `synth_per_language` synthetic voices per language, and every speaker of the sources or speaker ids
    named in `whole` (unfamiliar recording conditions, not only unfamiliar voices). A picked speaker
    leaves training in every language it speaks (heidelberg_digits speakers read German and English)."""
    rng = random.Random(seed)
    by_source: dict[str, set[str]] = defaultdict(set)
    synth_by_lang: dict[str, set[str]] = defaultdict(set)
    named = set(whole)
    held: set[str] = {c.speaker for c in clips if c.source in named or c.speaker in named}
    for c in clips:
        if c.speaker in held:
            continue
        if c.synthetic:
            synth_by_lang[c.language].add(c.speaker)
        else:
            by_source[c.source].add(c.speaker)
    for source, n in sorted(per_source.items()):
        speakers = sorted(by_source.get(source, ()))
        if len(speakers) > n:  # never take a source's last speaker
            held.update(rng.sample(speakers, n))
    for lang in sorted(synth_by_lang):
        voices = sorted(synth_by_lang[lang])
        if len(voices) > synth_per_language:
            held.update(rng.sample(voices, synth_per_language))
    return held


def _decode(path: Path) -> np.ndarray:
    x = load_mono_16k(path)
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


def decode_clips(clips: list[Clip], workers: int = 1, progress: bool = False) -> list[np.ndarray]:
    """Decode every clip to 16 kHz mono int16, in `workers` processes."""
    paths = [c.path for c in clips]
    if workers <= 1:
        it = map(_decode, paths)
        return list(_progress(it, len(paths), progress))
    with ProcessPoolExecutor(workers) as pool:
        return list(_progress(pool.map(_decode, paths, chunksize=64), len(paths), progress))


def _progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="decode", unit="clip", mininterval=5)


def load_cached(clips: list[Clip], cache: Path | None, workers: int, progress: bool = False) -> list[np.ndarray]:
    """decode_clips with an on-disk cache (one int16 .npy plus an index of paths) for repeated runs."""
    if cache is None:
        return decode_clips(clips, workers, progress)
    index_file, data_file = cache.with_suffix(".paths.txt"), cache.with_suffix(".npy")
    known: dict[str, tuple[int, int]] = {}
    data = np.zeros(0, dtype=np.int16)
    if index_file.is_file() and data_file.is_file():
        data = np.load(data_file, mmap_mode="r")
        offset = 0
        for line in index_file.read_text(encoding="utf-8").splitlines():
            p, n = line.rsplit("\t", 1)
            known[p] = (offset, int(n))
            offset += int(n)
    todo = [c for c in clips if str(c.path) not in known]
    if todo:
        fresh = decode_clips(todo, workers, progress)
        offset = len(data)
        for c, a in zip(todo, fresh, strict=True):
            known[str(c.path)] = (offset, len(a))
            offset += len(a)
        data = np.concatenate([np.asarray(data)] + fresh)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(data_file, data)
        index_file.write_text("".join(f"{p}\t{n}\n" for p, (_, n) in known.items()), encoding="utf-8")
    return [np.asarray(data[start : start + n]) for start, n in (known[str(c.path)] for c in clips)]


@dataclass
class SamplingConfig:
    synth_share: float = 0.3  # share of draws from synthetic clips, in languages that have both kinds
    speaker_power: float = 0.5  # P(speaker | language, kind) ~ minutes ** power (0: uniform over speakers)


class Bank:
    """All clips of one set as one int16 tensor, ordered by (language, speaker), on one device; `label` is
    each clip's index in `languages`, or -1 for a language not among them."""

    def __init__(self, clips: list[Clip], audio: list[np.ndarray], languages: list[str], device: torch.device) -> None:
        order = sorted(range(len(clips)), key=lambda i: (clips[i].language, clips[i].synthetic, clips[i].speaker, i))
        self.clips = [clips[i] for i in order]
        self.languages = languages
        lengths = np.array([len(audio[i]) for i in order], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
        # each clip's speaker span: a crop may run into neighbouring clips of its speaker, never further
        span_lo, span_hi = np.empty_like(starts), np.empty_like(starts)
        i = 0
        while i < len(order):
            j = i
            while j < len(order) and self.clips[j].speaker == self.clips[i].speaker:
                j += 1
            span_lo[i:j], span_hi[i:j] = starts[i], starts[j - 1] + lengths[j - 1]
            i = j
        self.audio = torch.from_numpy(np.concatenate([audio[i] for i in order])).to(device)
        self.start = torch.from_numpy(starts).to(device)
        self.length = torch.from_numpy(lengths).to(device)
        self.span_lo = torch.from_numpy(span_lo).to(device)
        self.span_hi = torch.from_numpy(span_hi).to(device)
        lang_index = {lang: k for k, lang in enumerate(languages)}
        # -1: a language the model has no row for (its clips still teach through a teacher's soft targets)
        self.label = torch.tensor([lang_index.get(c.language, -1) for c in self.clips], dtype=torch.long, device=device)
        self.device = device

    def __len__(self) -> int:
        return len(self.clips)

    def weights(self, cfg: SamplingConfig) -> torch.Tensor:
        """Per-clip draw probabilities: languages equal; within a language the synthetic share is
        `synth_share` (where real clips exist too); speakers ~ minutes**speaker_power; clips ~ length."""
        seconds = self.length.double().cpu().numpy() / SAMPLE_RATE
        groups: dict[tuple[str, bool], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, c in enumerate(self.clips):
            groups[(c.language, c.synthetic)][c.speaker].append(i)
        w = np.zeros(len(self.clips))
        present = sorted({c.language for c in self.clips})
        for lang in present:
            kinds = {s: groups[(lang, s)] for s in (False, True) if groups.get((lang, s))}
            for synthetic, speakers in kinds.items():
                share = 1.0 if len(kinds) == 1 else (cfg.synth_share if synthetic else 1.0 - cfg.synth_share)
                spk_w = {s: seconds[idx].sum() ** cfg.speaker_power for s, idx in speakers.items()}
                total = sum(spk_w.values())
                for s, idx in speakers.items():
                    w[idx] = share * spk_w[s] / total * seconds[idx] / seconds[idx].sum()
        w /= len(present)
        return torch.from_numpy(w).to(self.device)

    def crop(self, clip: torch.Tensor, samples: int, speed: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """Windows of `samples` output samples from clips `clip` (B,), read at rate `speed` (B,) with
        linear interpolation (speed > 1 is faster and higher), starting at fraction `where` (B,) of the
        room the clip leaves. Returns float32 (B, samples) in [-1, 1]."""
        need = (samples * speed).ceil().long() + 1
        length, start = self.length[clip], self.start[clip]
        room = (length - need).clamp(min=0)
        # a clip shorter than the window sits at a random place inside it, padded by its neighbours
        first = torch.where(length >= need, start + (where * room).long(), start - (where * (need - length)).long())
        lo, hi = self.span_lo[clip], self.span_hi[clip]
        first = torch.minimum(first, hi - need).clamp(min=0)
        first = torch.maximum(first, lo)
        pos = first[:, None].double() + torch.arange(samples, device=self.device, dtype=torch.float64) * speed[:, None]
        i0 = pos.floor().long()
        frac = (pos - i0).float()
        valid = (i0 + 1 < hi[:, None]) & (i0 >= lo[:, None])
        i0 = i0.clamp(0, len(self.audio) - 2)
        a, b = self.audio[i0].float(), self.audio[i0 + 1].float()
        return torch.where(valid, a + (b - a) * frac, 0.0) / 32767.0


def random_crop_seconds(rng: random.Random, lo: float, hi: float) -> float:
    """Crop lengths uniform on a log scale: short windows get as many steps as long ones."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))
