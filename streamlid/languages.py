"""ISO 639-3 codes and the names shown to people."""

from __future__ import annotations

CORE = ("eng", "deu", "fra", "spa", "cmn", "rus")

NAMES = {
    "afr": "Afrikaans",
    "amh": "Amharic",
    "arb": "Arabic",
    "ben": "Bengali",
    "bul": "Bulgarian",
    "cat": "Catalan",
    "ces": "Czech",
    "cmn": "Mandarin",
    "cym": "Welsh",
    "dan": "Danish",
    "deu": "German",
    "ell": "Greek",
    "eng": "English",
    "est": "Estonian",
    "eus": "Basque",
    "fin": "Finnish",
    "fra": "French",
    "gle": "Irish",
    "glg": "Galician",
    "heb": "Hebrew",
    "hin": "Hindi",
    "hrv": "Croatian",
    "hun": "Hungarian",
    "hye": "Armenian",
    "ind": "Indonesian",
    "isl": "Icelandic",
    "ita": "Italian",
    "jpn": "Japanese",
    "kat": "Georgian",
    "kor": "Korean",
    "lit": "Lithuanian",
    "lav": "Latvian",
    "mal": "Malayalam",
    "mkd": "Macedonian",
    "nld": "Dutch",
    "nob": "Norwegian Bokmål",
    "pes": "Persian",
    "pol": "Polish",
    "por": "Portuguese",
    "ron": "Romanian",
    "rus": "Russian",
    "slk": "Slovak",
    "slv": "Slovenian",
    "spa": "Spanish",
    "srp": "Serbian",
    "swe": "Swedish",
    "swh": "Swahili",
    "tam": "Tamil",
    "tur": "Turkish",
    "ukr": "Ukrainian",
    "urd": "Urdu",
    "vie": "Vietnamese",
    "yue": "Cantonese",
}


def name(code: str | None) -> str | None:
    if code is None:
        return None
    return NAMES.get(code, code)


def parse_languages(text: str | None, known: list[str]) -> list[str] | None:
    """'eng,deu' -> ['eng', 'deu'], checked against the model's languages (ValueError with the valid ones)."""
    if not text:
        return None
    codes = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)}; the model knows: {' '.join(known)}")
    if len(set(codes)) < 2:
        raise ValueError("--languages needs at least two different languages")
    return list(dict.fromkeys(codes))
