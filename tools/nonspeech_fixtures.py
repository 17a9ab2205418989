"""Build the non-speech test set from sound files in Debian packages (benchmarks/nonspeech/).

    python tools/nonspeech_fixtures.py benchmarks/nonspeech

Downloads the packages with `apt-get download` (nothing is installed), cuts music excerpts and strings
short effects together into clips of a few seconds, and writes them as 16 kHz mono Opus with a
manifest.csv naming each clip's package, version, licence and original files. Synthetic noise, tones
and clicks are made in code (streamlid.nonspeech), not stored.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
from pathlib import Path

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


def read_16k(path: Path, start: float, seconds: float | None) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    x = x[int(start * rate) : int((start + seconds) * rate) if seconds else None]
    return soxr.resample(x, rate, RATE).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=tmp, check=True, capture_output=True)
        versions = {}
        for deb in tmp.glob("*.deb"):
            pkg, version = deb.name.split("_")[:2]
            versions[pkg] = version
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True)
        rows = []
        for name, kind, pkg, parts in CLIPS:
            gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
            pieces = []
            for file, start, seconds in parts:
                pieces += [read_16k(tmp / "root" / file, start, seconds), gap]
            audio = np.concatenate(pieces[:-1])
            audio *= 0.5 / max(1e-6, float(np.abs(audio).max()))  # a normal recording level, never clipped
            path = args.out / f"{name}.opus"
            sf.write(path, audio, RATE, format="OGG", subtype="OPUS")
            files = "; ".join(dict.fromkeys(f"/{f}" + (f"@{s}s+{d}s" if d else "") for f, s, d in parts))
            rows.append(
                {
                    "path": path.name,
                    "kind": kind,
                    "duration_s": round(audio.size / RATE, 2),
                    "package": f"{pkg} {versions[pkg]}",
                    "license": PACKAGES[pkg],
                    "origin": files,
                }
            )
    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    total = sum(r["duration_s"] for r in rows)
    print(f"wrote {len(rows)} clips ({total:.0f} s) to {args.out}")


if __name__ == "__main__":
    main()
