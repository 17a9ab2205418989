"""ISO 639-3 codes and the names shown to people."""

from __future__ import annotations

CORE = ("eng", "deu", "fra", "spa", "cmn", "rus")

# Whisper's language codes (ISO 639-1, plus "haw" and "jw") -> the ISO 639-3 codes of streamlid's manifests.
WHISPER_TO_ISO639_3 = {
    "af": "afr", "am": "amh", "ar": "arb", "as": "asm", "az": "azj", "ba": "bak", "be": "bel", "bg": "bul",
    "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan",
    "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus", "fa": "pes", "fi": "fin",
    "fo": "fao", "fr": "fra", "gl": "glg", "gu": "guj", "ha": "hau", "haw": "haw", "he": "heb", "hi": "hin",
    "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn",
    "jw": "jav", "ka": "kat", "kk": "kaz", "km": "khm", "kn": "kan", "ko": "kor", "la": "lat", "lb": "ltz",
    "ln": "lin", "lo": "lao", "lt": "lit", "lv": "lav", "mg": "mlg", "mi": "mri", "mk": "mkd", "ml": "mal",
    "mn": "khk", "mr": "mar", "ms": "zsm", "mt": "mlt", "my": "mya", "ne": "npi", "nl": "nld", "nn": "nno",
    "no": "nob", "oc": "oci", "pa": "pan", "pl": "pol", "ps": "pbt", "pt": "por", "ro": "ron", "ru": "rus",
    "sa": "san", "sd": "snd", "si": "sin", "sk": "slk", "sl": "slv", "sn": "sna", "so": "som", "sq": "als",
    "sr": "srp", "su": "sun", "sv": "swe", "sw": "swh", "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha",
    "tk": "tuk", "tl": "tgl", "tr": "tur", "tt": "tat", "uk": "ukr", "ur": "urd", "uz": "uzn", "vi": "vie",
    "yi": "yid", "yo": "yor", "zh": "cmn", "yue": "yue",
}  # fmt: skip

NAMES = {
    "afr": "Afrikaans",
    "als": "Albanian",
    "amh": "Amharic",
    "arb": "Arabic",
    "asm": "Assamese",
    "azj": "Azerbaijani",
    "bak": "Bashkir",
    "bel": "Belarusian",
    "ben": "Bengali",
    "bod": "Tibetan",
    "bos": "Bosnian",
    "bre": "Breton",
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
    "fao": "Faroese",
    "fin": "Finnish",
    "fra": "French",
    "gle": "Irish",
    "glg": "Galician",
    "guj": "Gujarati",
    "hat": "Haitian Creole",
    "hau": "Hausa",
    "haw": "Hawaiian",
    "heb": "Hebrew",
    "hin": "Hindi",
    "hrv": "Croatian",
    "hun": "Hungarian",
    "hye": "Armenian",
    "ind": "Indonesian",
    "isl": "Icelandic",
    "ita": "Italian",
    "jav": "Javanese",
    "jpn": "Japanese",
    "kan": "Kannada",
    "kat": "Georgian",
    "kaz": "Kazakh",
    "khk": "Mongolian",
    "khm": "Khmer",
    "kor": "Korean",
    "lao": "Lao",
    "lat": "Latin",
    "lav": "Latvian",
    "lin": "Lingala",
    "lit": "Lithuanian",
    "ltz": "Luxembourgish",
    "mal": "Malayalam",
    "mar": "Marathi",
    "mkd": "Macedonian",
    "mlg": "Malagasy",
    "mlt": "Maltese",
    "mri": "Maori",
    "mya": "Burmese",
    "nld": "Dutch",
    "nno": "Norwegian Nynorsk",
    "nob": "Norwegian Bokmål",
    "npi": "Nepali",
    "oci": "Occitan",
    "pan": "Punjabi",
    "pbt": "Pashto",
    "pes": "Persian",
    "pol": "Polish",
    "por": "Portuguese",
    "ron": "Romanian",
    "rus": "Russian",
    "san": "Sanskrit",
    "sin": "Sinhala",
    "slk": "Slovak",
    "slv": "Slovenian",
    "sna": "Shona",
    "snd": "Sindhi",
    "som": "Somali",
    "spa": "Spanish",
    "srp": "Serbian",
    "sun": "Sundanese",
    "swe": "Swedish",
    "swh": "Swahili",
    "tam": "Tamil",
    "tat": "Tatar",
    "tel": "Telugu",
    "tgk": "Tajik",
    "tgl": "Tagalog",
    "tha": "Thai",
    "tuk": "Turkmen",
    "tur": "Turkish",
    "ukr": "Ukrainian",
    "urd": "Urdu",
    "uzn": "Uzbek",
    "vie": "Vietnamese",
    "yid": "Yiddish",
    "yor": "Yoruba",
    "yue": "Cantonese",
    "zsm": "Malay",
}


def name(code: str | None) -> str | None:
    if code is None:
        return None
    return NAMES.get(code, code)


def parse_languages(
    text: str | None, known: list[str], option: str = "--languages", at_least: int = 2
) -> list[str] | None:
    """'eng,deu' -> ['eng', 'deu'], checked against the model's languages (ValueError with the valid ones)."""
    if not text:
        return None
    codes = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValueError(f"{option}: unknown language(s) {', '.join(unknown)}; the model knows: {' '.join(known)}")
    if len(set(codes)) < at_least:
        raise ValueError(f"{option} needs at least {at_least} different languages")
    return list(dict.fromkeys(codes))
