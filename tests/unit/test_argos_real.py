"""The real Argos Translate path (MiniSBD, SentencePiece, CTranslate2) through ArgosTranslator.

Packages are tiny copy models built offline by tests/support/tiny_argos.py: a "translation"
returns its input, so results are exact. Everything runs with the network switched off.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.tiny_argos import ARGOS_ENV_KEYS, argos_environment, build_tiny_package
from translations.mt import ArgosTranslator, TranslationUnavailable

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("argostranslate") is None, reason="argostranslate is not installed"
)

REPO = Path(__file__).resolve().parents[2]
INSTALLED = [("pl", "en"), ("en", "pl"), ("en", "sv")]


# --- no network ------------------------------------------------------------------------------


class NetworkUsed(OSError):
    pass


@dataclass
class NetworkGuard:
    attempts: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise NetworkUsed(f"network used in an offline test: {what}")


def _inet(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6)


@pytest.fixture(scope="module")
def network_guard() -> Iterator[NetworkGuard]:
    """Every IP connection and DNS lookup in this process raises and is recorded."""
    guard = NetworkGuard()
    mp = pytest.MonkeyPatch()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):  # noqa: ANN001, ANN202
        if _inet(self):
            guard.refuse(f"connect {address}")
        return real_connect(self, address)

    def connect_ex(self, address):  # noqa: ANN001, ANN202
        if _inet(self):
            guard.refuse(f"connect_ex {address}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # noqa: ANN001, ANN202
        guard.refuse(f"getaddrinfo {host}")

    def create_connection(address, *args, **kwargs):  # noqa: ANN001, ANN202
        guard.refuse(f"create_connection {address}")

    mp.setattr(socket.socket, "connect", connect)
    mp.setattr(socket.socket, "connect_ex", connect_ex)
    mp.setattr(socket, "getaddrinfo", getaddrinfo)
    mp.setattr(socket, "create_connection", create_connection)
    try:
        yield guard
    finally:
        mp.undo()


# --- packages --------------------------------------------------------------------------------


@dataclass
class Argos:
    home: Path
    packages_dir: Path
    builds: Path
    translator: ArgosTranslator


@pytest.fixture(scope="module")
def argos(tmp_path_factory, network_guard) -> Iterator[Argos]:
    """Tiny pl->en, en->pl and en->sv packages installed in a temporary Argos home."""
    home = tmp_path_factory.mktemp("argoshome")
    builds = tmp_path_factory.mktemp("argosbuilds")
    with argos_environment(home) as packages_dir:
        files = [build_tiny_package(builds, src, dst) for src, dst in INSTALLED]
        import argostranslate.package

        for file in files:
            argostranslate.package.install_from_path(file)
        yield Argos(home, packages_dir, builds, ArgosTranslator())


# --- ArgosTranslator on real packages --------------------------------------------------------


def test_a_tiny_package_is_a_real_argos_package(tmp_path):
    path = build_tiny_package(tmp_path, "pl", "en")
    assert path.name == "translate-pl_en-0_1.argosmodel"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    top = "translate-pl_en-0_1/"
    for name in ("metadata.json", "sentencepiece.model", "model/model.bin",
                 "model/config.json", "model/shared_vocabulary.json", "minisbd/pl.onnx"):
        assert top + name in names


def test_installed_languages(argos):
    assert argos.translator.languages() == {"pl", "en", "sv"}
    assert sorted(p.name for p in argos.packages_dir.iterdir()) == [
        "translate-en_pl-0_1", "translate-en_sv-0_1", "translate-pl_en-0_1"]


def test_can_translate_both_ways_pivots_through_english_and_not_beyond(argos):
    t = argos.translator
    assert t.can_translate("pl", "en") and t.can_translate("en", "pl")
    assert t.can_translate("en", "sv")
    assert t.can_translate("pl", "sv")  # pl->en->sv: Argos composes the two packages
    assert not t.can_translate("sv", "en")  # no package from Swedish
    assert not t.can_translate("sv", "pl")
    assert not t.can_translate("pl", "de") and not t.can_translate("de", "en")
    assert t.can_translate("de", "de")  # the same language needs no package


@pytest.mark.parametrize(
    ("text", "source", "target"),
    [
        ("Dzień dobry, jak się masz?", "pl", "en"),
        ("Zażółć gęślą jaźń, ĄĆĘŁŃÓŚŹŻ: 0123456789 (100%)", "pl", "en"),
        ("Where is the train station? I need help.", "en", "pl"),
        ("Call 112 now!", "en", "sv"),
        ("Gdzie jest dworzec?", "pl", "sv"),  # two packages in a row
        ("Ring 020-50 50 50 – €5, naïve 😀 ☎", "en", "pl"),  # unseen characters: byte pieces
    ],
)
def test_translate_returns_the_copy_models_output(argos, text, source, target):
    assert argos.translator.translate(text, source, target) == text


def test_several_sentences_are_split_by_minisbd_and_joined_again(argos):
    import argostranslate.translate

    text = "Cześć! Mam 25 lat. Gdzie jest dworzec? Czekam... co?! Kosztuje 3.50 zł"
    package_translation = argostranslate.translate.get_translation_from_codes(
        "pl", "en").underlying
    sentences = package_translation.sentencizer.split_sentences(text)
    assert type(package_translation.sentencizer).__name__ == "MiniSBDSentencizer"
    assert sentences == ["Cześć!", "Mam 25 lat.", "Gdzie jest dworzec?", "Czekam...", "co?!",
                         "Kosztuje 3.50 zł"]
    assert argos.translator.translate(text, "pl", "en") == text


def test_lines_are_translated_one_by_one_and_spaces_are_normalised(argos):
    t = argos.translator
    assert t.translate("Pierwsza linia.\nDruga linia.\n\nKoniec", "pl", "en") == (
        "Pierwsza linia.\nDruga linia.\n\nKoniec")
    assert t.translate("  dwa   słowa  ", "pl", "en") == "dwa słowa"  # SentencePiece
    assert t.translate("snake_case", "pl", "en") == "snake case"  # Argos' detokenizer
    assert t.translate("", "pl", "en") == ""


def test_an_uninstalled_pair_is_unavailable(argos):
    for source, target in [("sv", "en"), ("pl", "de"), ("de", "pl")]:
        with pytest.raises(TranslationUnavailable):
            argos.translator.translate("Hej", source, target)
    assert argos.translator.translate("Hallo", "de", "de") == "Hallo"


# --- the CLI ---------------------------------------------------------------------------------


def _cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ARGOS_ENV_KEYS and not k.startswith(("ARGOS_", "XDG_"))}
    env["RIGHTSLINE_ARGOS_HOME"] = str(home)
    return env


# Runs the CLI with the network switched off in the child process too.
OFFLINE_CLI = """
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network disabled by the test")
real_connect = socket.socket.connect
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        refuse()
    return real_connect(self, address)
socket.socket.connect = connect
socket.getaddrinfo = socket.create_connection = refuse
sys.argv = ["translations.mt_cli", *sys.argv[1:]]
runpy.run_module("translations.mt_cli", run_name="__main__", alter_sys=True)
"""


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OFFLINE_CLI, *args], cwd=REPO, env=_cli_env(home),
        capture_output=True, text=True, timeout=120,
    )


def test_cli_install_and_list(argos, tmp_path):
    home = tmp_path / "clihome"
    empty = run_cli(home, "list")
    assert empty.returncode == 0, empty.stderr
    assert "No Argos packages installed" in empty.stdout

    package_file = argos.builds / "translate-pl_en-0_1.argosmodel"
    installed = run_cli(home, "install", str(package_file))
    assert installed.returncode == 0, installed.stderr
    assert "Installed pl->en (version 0.1)" in installed.stdout
    assert (home / "packages" / "translate-pl_en-0_1" / "metadata.json").is_file()

    listed = run_cli(home, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"pl->en\tPolish -> English\tversion 0.1\t{home / 'packages' / 'translate-pl_en-0_1'}"]
    assert not (Path.home() / ".local" / "share" / "argos-translate" / "packages"
                / "translate-pl_en-0_1").exists()


def test_cli_refuses_a_file_that_is_not_a_package(tmp_path):
    bad = tmp_path / "bad.argosmodel"
    bad.write_text("not a zip")
    result = run_cli(tmp_path / "clihome", "install", str(bad))
    assert result.returncode == 1
    assert "not an Argos package" in result.stderr


def test_cli_install_index_fails_clearly_offline(tmp_path):
    result = run_cli(tmp_path / "clihome", "install-index", "pl", "en")
    assert result.returncode == 1
    assert "could not download the Argos package index" in result.stderr
    assert "install <file.argosmodel>" in result.stderr
    assert "Traceback" not in result.stderr


def test_refresh_sees_a_package_installed_by_the_cli_in_another_process(argos):
    t = argos.translator
    assert not t.can_translate("sv", "en")
    sv_en = build_tiny_package(argos.builds, "sv", "en")
    result = run_cli(argos.home, "install", str(sv_en))
    assert result.returncode == 0, result.stderr
    try:
        assert not t.can_translate("sv", "en")  # not until refresh()
        t.refresh()
        assert t.can_translate("sv", "en") and t.can_translate("sv", "pl")
        assert t.translate("Var är stationen? Tack!", "sv", "pl") == "Var är stationen? Tack!"
    finally:
        shutil.rmtree(argos.packages_dir / "translate-sv_en-0_1")
        t.refresh()
    assert not t.can_translate("sv", "en")


def test_no_network_was_used(argos, network_guard):
    # The guard is on for this whole module: building, installing, loading the models and the
    # sentence splitter and translating all ran under it. Prove it is armed, then that
    # nothing tripped it (Argos swallows some errors, so the record is what counts).
    assert argos.translator.translate("Ostatnie zdanie. Naprawdę!", "pl", "en") == (
        "Ostatnie zdanie. Naprawdę!")
    assert network_guard.attempts == []
    with pytest.raises(NetworkUsed):
        socket.create_connection(("example.org", 443), timeout=1)
    with pytest.raises(NetworkUsed):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("192.0.2.1", 80))
    network_guard.attempts.clear()
