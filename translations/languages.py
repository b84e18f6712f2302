"""The core languages: curated content and natively trained NLU."""

from __future__ import annotations

# code -> the language's own name (shown in language menus)
CORE_LANGUAGES: dict[str, str] = {
    "sv": "Svenska",
    "en": "English",
    "ro": "Română",
    "bg": "Български",
    "hu": "Magyar",
    "pl": "Polski",
    "ru": "Русский",
    "uk": "Українська",
    "es": "Español",
    "fr": "Français",
    "th": "ไทย",
    "zh": "中文",
    "ar": "العربية",
}
RTL_LANGUAGES = frozenset({"ar"})
SOURCE_LANGUAGE = "en"
