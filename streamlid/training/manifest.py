"""Manifests: CSV files of clips (`path,language[,speaker,split,duration_s,source,license]`), read by one
rule for training, evaluation and the benchmarks: a row without a split is a training row."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("path", "language")


@dataclass(frozen=True)
class Clip:
    path: Path  # absolute
    language: str
    speaker: str
    duration: float  # seconds; 0 when the manifest does not say
    source: str
    split: str
    license: str
    synthetic: bool


def read_manifest(path: str | Path, root: str | Path | None = None, synthetic: bool = False) -> list[Clip]:
    """Read a CSV manifest with at least `path,language` (ISO 639-3).

    Optional columns: speaker, duration_s, source, split (default `train`), license. Relative paths are
    taken from `root`, by default the manifest's own folder. A clip with no speaker gets its own id,
    which makes speaker balancing and speaker hold-out per clip for that manifest.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    default_source = "synth" if synthetic else path.stem
    clips = []
    for r in rows:
        source = r.get("source") or default_source
        clips.append(
            Clip(
                path=(root / r["path"]).resolve(),
                language=r["language"].strip(),
                speaker=r.get("speaker") or f"{source}:{r['path']}",
                duration=float(r.get("duration_s") or 0.0),
                source=source,
                split=r.get("split") or "train",
                license=r.get("license", ""),
                synthetic=synthetic,
            )
        )
    return clips
