"""Issue 12: when an English text changes, every translation of it waits for review
(translations/review.py) until a reviewer marks it; the catalog loader ignores the records."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest

from translations import review
from translations.catalog import CATALOG_DIR, Catalog

ENTRY = "utter_emergency|web"


@pytest.fixture
def catalog(tmp_path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, directory)
    for sidecar in directory.glob(f"*/{review.SIDECAR}"):
        sidecar.unlink()
    assert review.init(directory) == review.languages(directory)
    return directory


def change_english(directory: Path, ctx: str, text: str) -> None:
    po = polib.pofile(str(directory / "en" / "messages.po"))
    [entry] = [e for e in po if e.msgctxt == ctx]
    entry.msgid = entry.msgstr = text
    po.save()


def waiting(directory: Path) -> dict[str, list[str]]:
    return {r.lang: r.changed + r.unreviewed + r.missing for r in review.review(directory)}


def test_the_stored_records_match_the_catalog():
    """The committed reviewed.yml files cover every language (a new English entry or text
    shows up as waiting, never as silently current)."""
    for lang in review.languages(CATALOG_DIR):
        assert (CATALOG_DIR / lang / review.SIDECAR).exists(), lang
    assert Catalog.load().has_language("sv")


def test_a_changed_english_text_waits_in_every_language_until_marked(catalog, capsys):
    assert all(not entries for entries in waiting(catalog).values())
    change_english(catalog, ENTRY, "If you are in danger now, call {emergency} at once.")
    before = waiting(catalog)
    assert set(before) == set(review.languages(catalog)) and "en" not in before
    assert all(entries == [ENTRY] for entries in before.values()), before
    [sv] = review.review(catalog, "sv")
    assert sv.changed == [ENTRY] and sv.waiting == 1 and sv.status == "draft"

    # The make target's command prints it per language.
    assert review.main(["--catalog", str(catalog), "status"]) == 0
    out = capsys.readouterr().out
    assert "12 translation(s) wait for review" in out
    assert review.main(["--catalog", str(catalog), "status", "--language", "pl"]) == 0
    assert f"changed    {ENTRY}" in capsys.readouterr().out
    assert review.main(["--catalog", str(catalog), "status", "--check"]) == 1

    # A reviewer checks sv's translation: it no longer waits, the others still do.
    assert review.main(["--catalog", str(catalog), "mark", "--language", "sv",
                        "--entry", ENTRY]) == 0
    after = waiting(catalog)
    assert after["sv"] == [] and all(after[lang] == [ENTRY] for lang in after if lang != "sv")
    for lang in after:
        if lang != "sv":
            review.main(["--catalog", str(catalog), "mark", "--language", lang, "--all"])
    assert all(not entries for entries in waiting(catalog).values())
    assert review.main(["--catalog", str(catalog), "status", "--check"]) == 0
    # Marking does not make a draft language reviewed.
    assert review.review(catalog, "sv")[0].status == "draft"
    # The catalog still loads with the records beside it.
    assert Catalog.load(catalog).has_language("sv")


def test_a_new_english_entry_waits_as_missing_and_marking_unknown_entries_fails(catalog):
    po = polib.pofile(str(catalog / "en" / "messages.po"))
    po.append(polib.POEntry(msgctxt="utter_new|web", msgid="New text.", msgstr="New text."))
    po.save()
    assert all(entries == ["utter_new|web"] for entries in waiting(catalog).values())
    with pytest.raises(SystemExit):
        review.mark(catalog, "sv", ["utter_new|web"])  # no sv translation to review
    with pytest.raises(SystemExit):
        review.mark(catalog, "sv", ["utter_nothing|web"])
