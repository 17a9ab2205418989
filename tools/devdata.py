"""Move the training audio to a GPU machine whose calls carry at most 64 MiB each.

    python tools/devdata.py pack --parts 2 --languages eng,deu,...    # here: .devdata/part{1,2}.zip (or all)
    python tools/devdata.py pack-dev                                   # here: .devdata/dev.zip, for evaluation
    python tools/devdata.py unpack .devdata/part1.zip /root/shared/data  # there, one call per part
    python tools/devdata.py decode /root/shared/data /root/cache/bank     # there, once: int16 cache
    python tools/devdata.py pack-dir /work/kokoro_synth kokoro              # more synthetic speech: .devdata/kokoro.zip

A folder packed with pack-dir (a manifest.csv beside its audio) unpacks to <data>/<name>/ and is read as
one more synthetic manifest (`--synth-manifest <data>/<name>/manifest.csv`).

The zips hold the Opus files under their manifest paths (stored, not recompressed) and, in part 1,
the train rows of both manifests with only the columns training reads. Dev rows are never packed with
them: pack-dev writes the dev split alone (dev.zip: its clips and dev_manifest.csv), for evaluating there.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import zipfile
from pathlib import Path

COLUMNS = ("path", "language", "speaker", "duration_s", "license", "source", "split")


def _rows(manifest: Path) -> list[dict]:
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def capped(rows: list[dict], minutes: float) -> list[dict]:
    """The first clips of each (language, speaker) up to `minutes` of speech (0: all): a smaller upload
    that keeps every voice."""
    if minutes <= 0:
        return rows
    used: dict[tuple[str, str], float] = {}
    out = []
    for r in rows:
        key = (r["language"], r["speaker"])
        if used.get(key, 0.0) < minutes * 60:
            used[key] = used.get(key, 0.0) + float(r["duration_s"])
            out.append(r)
    return out


def pack(shared: Path, out: Path, parts: int, languages: set[str], cap: tuple[float, float] = (0, 0)) -> None:
    def wanted(r: dict) -> bool:
        return "all" in languages or r["language"] in languages

    real = [r for r in _rows(shared / "manifest.csv") if r["split"] == "train" and wanted(r)]
    synth = [r for r in _rows(shared / "synth/manifest.csv") if wanted(r)]
    real, synth = capped(real, cap[0]), capped(synth, cap[1])
    files = [r["path"] for r in real] + ["synth/" + r["path"] for r in synth]
    sizes = [os.path.getsize(shared / p) for p in files]
    budget = sum(sizes) / parts
    out.mkdir(parents=True, exist_ok=True)
    part, used = 1, 0
    zf = zipfile.ZipFile(out / "part1.zip", "w", zipfile.ZIP_STORED)
    zf.writestr("manifest.csv", _csv(real))
    zf.writestr("synth/manifest.csv", _csv(synth))
    for path, size in zip(files, sizes, strict=True):
        if used + size > budget and part < parts:
            zf.close()
            part, used = part + 1, 0
            zf = zipfile.ZipFile(out / f"part{part}.zip", "w", zipfile.ZIP_STORED)
        zf.write(shared / path, path)
        used += size
    zf.close()
    for p in sorted(out.glob("part*.zip")):
        print(f"{p}: {p.stat().st_size / 2**20:.1f} MiB")


def pack_dev(shared: Path, out: Path) -> None:
    dev = [r for r in _rows(shared / "manifest.csv") if r["split"] == "dev"]
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "dev.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("dev_manifest.csv", _csv(dev))
        for r in dev:
            zf.write(shared / r["path"], r["path"])
    print(f"{out / 'dev.zip'}: {(out / 'dev.zip').stat().st_size / 2**20:.1f} MiB, {len(dev)} clips")


def pack_dir(folder: Path, name: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / f"{name}.zip", "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(folder)}")
    print(f"{out / name}.zip: {(out / f'{name}.zip').stat().st_size / 2**20:.1f} MiB")


def decode(root: Path, cache: Path, workers: int) -> None:
    """Decode every clip already unpacked (the cache grows as parts arrive)."""
    from streamlid.training.data import load_cached
    from streamlid.training.manifest import read_manifest

    clips = read_manifest(root / "manifest.csv")
    for synth in sorted(root.glob("*/manifest.csv")):
        clips += read_manifest(synth, synthetic=True)
    clips = [c for c in clips if c.path.is_file()]
    audio = load_cached(clips, cache, workers, progress=True)
    print(f"{len(clips)} clips, {sum(len(a) for a in audio) / 16000 / 3600:.2f} h decoded into {cache}.npy")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    a.add_argument("--out", type=Path, default=Path(".devdata"))
    a.add_argument("--parts", type=int, default=2)
    a.add_argument("--languages", required=True, help="comma-separated ISO 639-3 codes, or all")
    a.add_argument(
        "--cap-minutes",
        type=float,
        nargs=2,
        default=(0, 0),
        metavar=("REAL", "SYNTH"),
        help="at most this much speech per real speaker and per synthetic voice (0: all)",
    )
    a = sub.add_parser("pack-dev")
    a.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    a.add_argument("--out", type=Path, default=Path(".devdata"))
    a = sub.add_parser("pack-dir")
    a.add_argument("folder", type=Path)
    a.add_argument("name")
    a.add_argument("--out", type=Path, default=Path(".devdata"))
    a = sub.add_parser("unpack")
    a.add_argument("zip", type=Path)
    a.add_argument("dest", type=Path)
    a = sub.add_parser("decode")
    a.add_argument("root", type=Path)
    a.add_argument("cache", type=Path)
    a.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    if args.cmd == "pack":
        pack(args.shared, args.out, args.parts, set(args.languages.split(",")), tuple(args.cap_minutes))
    elif args.cmd == "pack-dev":
        pack_dev(args.shared, args.out)
    elif args.cmd == "pack-dir":
        pack_dir(args.folder, args.name, args.out)
    elif args.cmd == "unpack":
        with zipfile.ZipFile(args.zip) as zf:
            zf.extractall(args.dest)
    else:
        decode(args.root, args.cache, args.workers)


if __name__ == "__main__":
    main()
