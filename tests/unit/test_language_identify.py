"""The core-language identifier: script rules, phone-typed forms, and knowing when it is unsure."""

import pytest

from gateway.language.detect import LanguageDetector
from gateway.language.identify import LanguageIdentifier, script_of
from translations.translit import latin_variants, strip_diacritics


@pytest.fixture(scope="module")
def identify():
    return LanguageIdentifier.from_nlu_data()


@pytest.mark.parametrize(("text", "language"), [
    ("ฉันอยู่ในอันตราย", "th"), ("我有危险", "zh"), ("انا خايفة", "ar"),
    ("Де мені спати?", "uk"), ("мне нужен врач, ты поможешь?", "ru"), ("привет", None),
    ("hello", None),
])
def test_the_script_alone_decides_where_it_can(text, language):
    assert script_of(text) == language


@pytest.mark.parametrize("text", [
    "door is bolted from outside and he took the keys, window doesnt open, 3rd floor",
    "he comes back at 7pm with his friends", "the flat is 5km from the station",
    "on the 9th they move us",
])
def test_an_ordinal_or_a_unit_after_a_digit_is_not_arabizi(identify, text):
    assert script_of(text) is None
    assert identify(text).language == "en"


@pytest.mark.parametrize("text", ["ana 5ayfa", "3ayza asa2al", "sa3dooni", "7abibti ana hena"])
def test_arabizi_digits_still_mean_arabic(text):
    assert script_of(text) == "ar"


@pytest.mark.parametrize(("text", "language"), [
    ("What is the reflection period?", "en"),
    ("ce este perioada de reflectie", "ro"),
    ("Vad är betänketid?", "sv"),
    ("pomogite mne nuzhen vrach", "ru"),            # Russian in Latin letters
    ("potrebna mi e pomosht, kade moga da spya", "bg"),  # Bulgarian in Latin letters
    ("potribna dopomoha, de meni zhyty", "uk"),      # Ukrainian in Latin letters
    ("Kde mozna ziskat lekare", None),               # Czech: not a core language, not claimed
    ("potrzebuje pomocy prawnika", "pl"),            # no diacritics
    ("nem beszélek svédül, kell tolmács", "hu"),
    ("necesito un abogado por favor", "es"),
    ("j'ai besoin d'un médecin", "fr"),
])
def test_sentences_are_identified(identify, text, language):
    found = identify(text)
    if language is None:
        assert not (found.is_sure and found.language in {"en", "sv"})
    else:
        assert found.language == language


def test_an_empty_or_symbol_only_message_has_no_language(identify):
    assert identify("   ").language is None
    assert identify("?!...").language is None


def test_a_bare_ok_is_never_sure(identify):
    assert not identify("ok").is_sure


def test_phone_typed_variants():
    assert strip_diacritics("Vad är betänketid? Łódź, ștergeți") == "Vad ar betanketid? Lodz, stergeti"
    assert "pomogite" in latin_variants("помогите", "ru")
    assert any(v.startswith("dopomoh") for v in latin_variants("допомога", "uk"))
    assert latin_variants("hello", "en") == []


def test_the_detector_leaves_other_languages_to_lingua_and_reports_them():
    detect = LanguageDetector(["sv", "en", "ro", "de"])
    found = detect("Ich brauche bitte dringend Hilfe, was soll ich tun?")
    assert (found.language, found.is_sure) == ("de", True)
    assert detect("ce este perioada de reflectie").language == "ro"
