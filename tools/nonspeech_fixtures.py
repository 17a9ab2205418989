"""Build the non-speech test set from sound files in Debian packages (streamlid/evaluation/nonspeech_clips/, package data), or with
--training a training set for the speech check from other packages (never the test set's).

    python tools/nonspeech_fixtures.py streamlid/evaluation/nonspeech_clips
    python tools/nonspeech_fixtures.py --training /tmp/nonspeech-train

Downloads the packages with `apt-get download` (nothing is installed), cuts music excerpts and strings
short effects together into clips of a few seconds, and writes them as 16 kHz mono Opus with a
manifest.csv naming each clip's package, version, licence and original files. Synthetic noise, tones
and clicks are made in code (streamlid.evaluation.nonspeech), not stored.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
GAP_S = 0.3
# package -> licence of the files used (from the package's debian/copyright)
PACKAGES = {
    "frozen-bubble-data": "GPL-2",
    "chromium-bsu-data": "Clarified-Artistic",
    "gnome-audio": "CC-BY-SA-2.0",
    "yaru-theme-sound": "CC-BY-SA-4.0",
    "sound-theme-freedesktop": "GPL-2+ / CC-BY-SA-3.0 / CC-BY-3.0",
}
FB, BSU, SND = "usr/share/games/frozen-bubble/snd", "usr/share/games/chromium-bsu/wav", "usr/share/sounds"
YARU, FD = f"{SND}/Yaru/stereo", f"{SND}/freedesktop/stereo"
# (name, kind, package, [(file, start s, seconds or None for all)])
CLIPS = [
    ("music-frozen-bubble-1", "music", "frozen-bubble-data", [(f"{FB}/frozen-mainzik-1p.ogg", 30, 8)]),
    ("music-frozen-bubble-2", "music", "frozen-bubble-data", [(f"{FB}/frozen-mainzik-1p.ogg", 150, 8)]),
    ("music-frozen-bubble-3", "music", "frozen-bubble-data", [(f"{FB}/frozen-mainzik-2p.ogg", 60, 8)]),
    ("music-frozen-bubble-4", "music", "frozen-bubble-data", [(f"{FB}/introzik.ogg", 20, 8)]),
    ("music-frozen-bubble-5", "music", "frozen-bubble-data", [(f"{FB}/introzik.ogg", 120, 8)]),
    ("music-chromium-bsu-game", "music", "chromium-bsu-data", [(f"{BSU}/music_game.wav", 0, None)]),
    ("music-chromium-bsu-menu", "music", "chromium-bsu-data", [(f"{BSU}/music_menu.wav", 0, None)]),
    ("jingle-gnome-login", "jingle", "gnome-audio", [(f"{SND}/login.wav", 0, None)]),
    ("jingle-gnome-startup", "jingle", "gnome-audio", [(f"{SND}/startup3.wav", 0, None)]),
    ("jingle-gnome-shutdown", "jingle", "gnome-audio", [(f"{SND}/shutdown1.wav", 0, None)]),
    ("jingle-yaru-login", "jingle", "yaru-theme-sound", [(f"{YARU}/desktop-login.oga", 0, None)]),
    ("jingle-yaru-ready", "jingle", "yaru-theme-sound", [(f"{YARU}/system-ready.oga", 0, None)]),
    ("alarm-freedesktop", "alarm", "sound-theme-freedesktop", [(f"{FD}/alarm-clock-elapsed.oga", 0, None)]),
    (
        "phone-freedesktop",
        "phone",
        "sound-theme-freedesktop",
        [(f"{FD}/{n}.oga", 0, None) for n in ("phone-outgoing-calling", "phone-outgoing-busy", "phone-incoming-call")],
    ),
    (
        "effects-freedesktop",
        "effects",
        "sound-theme-freedesktop",
        [
            (f"{FD}/{n}.oga", 0, None)
            for n in (
                "camera-shutter",
                "trash-empty",
                "complete",
                "message-new-instant",
                "suspend-error",
                "service-login",
            )
        ],
    ),
    (
        "effects-chromium-bsu",
        "effects",
        "chromium-bsu-data",
        [(f"{BSU}/{n}.wav", 0, None) for n in ("boom", "exploBig", "exploPop", "exploStd", "life_lose", "power")],
    ),
    (
        "effects-frozen-bubble",
        "effects",
        "frozen-bubble-data",
        [(f"{FB}/{n}.ogg", 0, None) for n in ("destroy_group", "lose", "newroot_solo", "malus", "cancel")],
    ),
    ("applause-frozen-bubble", "human", "frozen-bubble-data", [(f"{FB}/applause.ogg", 0, None)] * 3),
    ("snore-frozen-bubble", "human", "frozen-bubble-data", [(f"{FB}/snore.ogg", 0, None)] * 4),
    (
        "effects-gnome",
        "effects",
        "gnome-audio",
        [(f"{SND}/{n}.wav", 0, None) for n in ("phone", "card_shuffle", "error", "warning", "info")] * 2,
    ),
    (
        "effects-yaru",
        "effects",
        "yaru-theme-sound",
        [
            (f"{YARU}/{n}.oga", 0, None)
            for n in (
                "battery-low",
                "complete",
                "dialog-question",
                "trash-empty",
                "message-new-email",
                "desktop-logoff",
            )
        ],
    ),
]


# the training set: other packages, whole folders (game sound sets with voice samples left out)
TRAINING_PACKAGES = {
    "extremetuxracer-data": "GPL-2+",
    "lincity-ng-data": "GPL-2+",
    "mu-cade-data": "BSD-2-Clause",
    "deepin-sound-theme": "GPL-3",
    "oxygen-sounds": "LGPL-3.0-or-later",
}
# (kind, package, folder): music is cut into pieces, effects strung together
TRAINING_FOLDERS = [
    ("music", "extremetuxracer-data", "usr/share/games/etr/music"),
    ("effects", "extremetuxracer-data", "usr/share/games/etr/sounds"),
    ("music", "lincity-ng-data", "usr/share/games/lincity-ng/music/default"),
    ("music", "mu-cade-data", "usr/share/games/mu-cade/sounds/musics"),
    ("effects", "mu-cade-data", "usr/share/games/mu-cade/sounds/chunks"),
    ("effects", "deepin-sound-theme", "usr/share/sounds/deepin/stereo"),
    ("effects", "oxygen-sounds", "usr/share/sounds"),
]
PIECE_S, PIECES_PER_FILE = 8.0, 4
AUDIO_SUFFIXES = (".ogg", ".oga", ".wav", ".flac")


def read_16k(path: Path, start: float, seconds: float | None) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    x = x[int(start * rate) : int((start + seconds) * rate) if seconds else None]
    return soxr.resample(x, rate, RATE).astype(np.float32)


def unpack(packages: list[str], tmp: Path) -> dict[str, str]:
    """`apt-get download` the packages into tmp and unpack them under tmp/root: package -> version."""
    subprocess.run(["apt-get", "download", *packages], cwd=tmp, check=True, capture_output=True)
    versions = {}
    for deb in tmp.glob("*.deb"):
        pkg, version = deb.name.split("_")[:2]
        versions[pkg] = unquote(version)  # apt writes an epoch's colon as %3a
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True)
    return versions


def strung(parts: list[np.ndarray]) -> np.ndarray:
    """Sounds one after another with short gaps, at a normal recording level, never clipped."""
    gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
    audio = np.concatenate([x for part in parts for x in (part, gap)][:-1])
    return audio * (0.5 / max(1e-6, float(np.abs(audio).max())))


def test_clips(root: Path, versions: dict[str, str]) -> list[tuple[str, np.ndarray, dict]]:
    out = []
    for name, kind, pkg, parts in CLIPS:
        audio = strung([read_16k(root / file, start, seconds) for file, start, seconds in parts])
        files = "; ".join(dict.fromkeys(f"/{f}" + (f"@{s}s+{d}s" if d else "") for f, s, d in parts))
        out.append(
            (
                name,
                audio,
                {"kind": kind, "package": f"{pkg} {versions[pkg]}", "license": PACKAGES[pkg], "origin": files},
            )
        )
    return out


def training_clips(root: Path, versions: dict[str, str]) -> list[tuple[str, np.ndarray, dict]]:
    """Music files cut into up to PIECES_PER_FILE pieces spread over each file; effects strung together
    into clips of about PIECE_S seconds."""
    out = []
    for kind, pkg, folder in TRAINING_FOLDERS:
        meta = {"kind": kind, "package": f"{pkg} {versions[pkg]}", "license": TRAINING_PACKAGES[pkg]}
        files = sorted(f for f in (root / folder).iterdir() if f.suffix in AUDIO_SUFFIXES)
        stem = f"{kind}-{pkg.removesuffix('-data')}"
        if kind == "music":
            for f in files:
                x = read_16k(f, 0, None)
                n = int(PIECE_S * RATE)
                starts = np.linspace(0, max(0, len(x) - n), min(PIECES_PER_FILE, max(1, len(x) // n))).astype(int)
                for i, start in enumerate(starts):
                    piece = strung([x[start : start + n]])
                    out.append(
                        (
                            f"{stem}-{f.stem}-{i}",
                            piece,
                            {**meta, "origin": f"/{f.relative_to(root)}@{start / RATE:.0f}s"},
                        )
                    )
            continue
        group, length = [], 0.0
        for f in files:
            group.append(f)
            length += sf.info(f).duration + GAP_S
            if length >= PIECE_S or f == files[-1]:
                audio = strung([read_16k(g, 0, PIECE_S) for g in group])
                origin = "; ".join(f"/{g.relative_to(root)}" for g in group)
                out.append((f"{stem}-{len(out)}", audio, {**meta, "origin": origin}))
                group, length = [], 0.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--training", action="store_true", help="the speech check's training set, not the test set")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    packages = TRAINING_PACKAGES if args.training else PACKAGES
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        versions = unpack(list(packages), tmp)
        clips = (training_clips if args.training else test_clips)(tmp / "root", versions)
        rows = []
        for name, audio, meta in clips:
            path = args.out / f"{name}.opus"
            sf.write(path, audio.astype(np.float32), RATE, format="OGG", subtype="OPUS")
            rows.append({"path": path.name, "kind": meta["kind"], "duration_s": round(audio.size / RATE, 2), **meta})
    fields = ["path", "kind", "duration_s", "package", "license", "origin"]
    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: r[k] for k in fields} for r in rows)
    total = sum(r["duration_s"] for r in rows)
    print(f"wrote {len(rows)} clips ({total:.0f} s) to {args.out}")


if __name__ == "__main__":
    main()
