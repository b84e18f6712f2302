"""Machine translation behind one interface: Argos Translate for real, a fake for unit tests.

Serves both directions: a person's language -> English (for the NLU, and for coordinators
with Swedish/English) and English/Swedish -> the person's language (content and replies).
Argos pivots through English when there is no direct package.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class TranslationUnavailable(Exception):
    pass


class Translator(Protocol):
    def can_translate(self, source: str, target: str) -> bool: ...

    def translate(self, text: str, source: str, target: str) -> str: ...

    def languages(self) -> set[str]: ...


def configure_argos_home(home: Path) -> None:
    """Keep Argos (and onnxruntime, spaCy, Stanza) out of the home directory and offline.

    Must run before argostranslate is imported. The path must not contain the words
    "stanza" or "minisbd": Argos picks its sentence splitter by looking for them.
    """
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ARGOS_PACKAGES_DIR", str(home / "packages"))
    os.environ.setdefault("XDG_DATA_HOME", str(home / "data"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(home / "config"))
    os.environ.setdefault("XDG_CACHE_HOME", str(home / "cache"))
    os.environ.setdefault("ARGOS_CHUNK_TYPE", "MINISBD")


class ArgosTranslator:
    """The real backend. Packages are installed with `python -m translations.mt_cli`."""

    def __init__(self) -> None:
        import argostranslate.translate  # slow (imports spaCy/Stanza/torch): once per process

        self._translate = argostranslate.translate
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], object] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the installed packages (e.g. after `mt_cli install` in another process)."""
        with self._lock:
            # Argos caches the languages per process and clears them only on its own installs,
            # and keeps one loaded translation per pair (keyed "pl-en", whatever the package's
            # path or version): drop both so replaced or new packages are read again.
            self._translate.get_installed_languages.cache_clear()
            self._translate.installed_translates.clear()
            self._languages = {lang.code: lang for lang in self._translate.get_installed_languages()}
            self._cache.clear()

    def languages(self) -> set[str]:
        return set(self._languages)

    def _translation(self, source: str, target: str):  # noqa: ANN202
        key = (source, target)
        with self._lock:  # refresh() may swap the languages and clear the cache meanwhile
            if key not in self._cache:
                src, dst = self._languages.get(source), self._languages.get(target)
                self._cache[key] = src.get_translation(dst) if src and dst else None
            return self._cache[key]

    def can_translate(self, source: str, target: str) -> bool:
        return source == target or self._translation(source, target) is not None

    def translate(self, text: str, source: str, target: str) -> str:
        if source == target:
            return text
        translation = self._translation(source, target)
        if translation is None:
            raise TranslationUnavailable(f"no Argos package for {source}->{target}")
        return translation.translate(text)


class FakeTranslator:
    """For unit tests: 'translates' by tagging the text with the target language."""

    def __init__(self, pairs: set[tuple[str, str]]) -> None:
        self.pairs = pairs

    def languages(self) -> set[str]:
        return {code for pair in self.pairs for code in pair}

    def can_translate(self, source: str, target: str) -> bool:
        return source == target or (source, target) in self.pairs

    def translate(self, text: str, source: str, target: str) -> str:
        if not self.can_translate(source, target):
            raise TranslationUnavailable(f"{source}->{target}")
        return text if source == target else f"[{target}] {text}"


class NoTranslator:
    """When no Argos package is installed: nothing can be machine translated."""

    def languages(self) -> set[str]:
        return set()

    def can_translate(self, source: str, target: str) -> bool:
        return source == target

    def translate(self, text: str, source: str, target: str) -> str:
        if source != target:
            raise TranslationUnavailable(f"{source}->{target}")
        return text
