"""The deterministic danger net: every core language's plain danger message gets 112, bare
cries for help are caught, and help with a topic is not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.conversations.danger import normalise, phrases, signals_danger
from tests.e2e.test_languages_e2e import DANGER
from translations.languages import CORE_LANGUAGES

REPO = Path(__file__).resolve().parents[2]
NOT_DANGER_INTENTS = ("ask_housing", "ask_medical", "ask_rights", "greet", "thank")


def training_examples(lang: str) -> dict[str, list[str]]:
    data = yaml.safe_load((REPO / "nlu_data" / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
    examples: dict[str, list[str]] = {}
    for item in data["nlu"]:
        if "intent" in item:
            examples[item["intent"]] = [line.strip()[2:] for line in item["examples"].splitlines()
                                        if line.strip().startswith("- ")]
    return examples


def test_every_core_language_has_phrases():
    assert set(CORE_LANGUAGES) <= set(phrases())
    assert all(phrases()[lang] for lang in CORE_LANGUAGES)


@pytest.mark.parametrize("lang", sorted(DANGER))
def test_the_e2e_danger_sentence_matches(lang):
    assert signals_danger(DANGER[lang], lang)
    assert signals_danger(DANGER[lang], None)


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_recall_on_training_emergencies(lang):
    emergencies = training_examples(lang)["emergency_danger"]
    missed = [text for text in emergencies if not signals_danger(text, lang)]
    assert 1 - len(missed) / len(emergencies) >= 0.9, missed


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_few_false_positives_on_ordinary_questions(lang):
    examples = training_examples(lang)
    others = [text for intent in NOT_DANGER_INTENTS for text in examples[intent]]
    flagged = [text for text in others if signals_danger(text, lang)]
    assert len(flagged) / len(others) <= 0.05, flagged


@pytest.mark.parametrize("text", [
    "can you help me find housing", "Can you help me find housing?", "help with housing",
    "i need help with a lawyer", "potrzebuję pomocy prawnej", "помогите найти юриста",
    "ajutor cu locuința", "ayuda con vivienda", "ساعدوني ألاقي سكن", "帮我找个住处",
    "do you have emergency housing",
])
def test_help_with_a_topic_does_not_match(text):
    assert not signals_danger(text, "en")


@pytest.mark.parametrize("text", ["HELP!!!", "help me", "Hjälp!", "ajutor!", "pomocy", "Помогите!",
                                  "¡Ayuda!", "au secours", "救命！", "ช่วยด้วย", "النجدة", "sos"])
def test_bare_cries_for_help_match_in_any_conversation_language(text):
    assert signals_danger(text, "sv")
    assert signals_danger(text, None)


@pytest.mark.parametrize("text", ["", "   ", "!!!", "?"])
def test_empty_message_does_not_match(text):
    assert not signals_danger(text, "en")


def test_normalise_strips_accents_and_punctuation_but_keeps_thai_and_arabic_marks():
    assert normalise("Hjälp MIG, snälla!") == "hjalp mig snalla"
    assert normalise("pomóż-mi") == "pomoz mi"
    assert normalise("Помогите, пожалуйста") == "помогите пожалуиста"
    assert normalise("ช่วยด้วย") == "ช่วยด้วย"


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("he hit me last year, can I get compensation?", "en", False),
    ("a client hit me two weeks ago, should I report it?", "en", False),
    ("he hit me last year and now he is outside the door", "en", True),
    ("he is hitting me", "en", True),
    ("m-a bătut acum doi ani, pot face plângere?", "ro", False),
    ("в прошлом году он меня бил, а сейчас он меня бьёт", "ru", True),
])
def test_violence_told_as_the_past_is_not_immediate_danger_unless_something_says_now(
        text, language, expected):
    assert signals_danger(text, language) is expected


def test_the_tense_file_is_not_read_as_a_language_of_phrases():
    from gateway.conversations.danger import phrases

    assert "tense" not in phrases()


@pytest.mark.parametrize(("text", "language"), [
    ("they locked the room and took the key", "en"),
    ("someone is following me since the station", "en"),
    ("they are at the door, please", "en"),
    ("han låste dörren och tog nyckeln", "sv"),
    ("de kör mig till Malmö inatt", "sv"),
    ("mașina așteaptă jos, mă mută în altă țară", "ro"),
    ("кто-то дёргает ручку двери", "ru"),
    ("mne konets esli on uvidit", "ru"),
    ("він з ножем під дверима", "uk"),
    ("kolata chaka otdolu", "bg"),
    ("rámzárta az ajtót", "hu"),
    ("zamknął mieszkanie i zabrał klucz", "pl"),
    ("un tipo viene siguiéndome", "es"),
    ("ils m'emmènent ce soir", "fr"),
    ("他们在楼下等我", "zh"),
    ("มีคนวิ่งตามหนู", "th"),
    ("ana m5abye w howe barra", "ar"),
    ("قفلوا الباب علي", "ar"),
])
def test_indirect_immediate_danger_matches(text, language):
    assert signals_danger(text, language)
    assert signals_danger(text, None)


@pytest.mark.parametrize(("text", "language"), [
    ("can I lock my phone", "en"),
    ("the knife in my kitchen is blunt", "en"),
    ("I cut my finger with a knife, do I need stitches", "en"),
    ("I came by car", "en"),
    ("my friend came back from Norway", "en"),
    ("what is the door code for the shelter", "en"),
    ("when does the office open tonight", "en"),
    ("skar mig i fingret med en kökskniv", "sv"),
    ("m-am tăiat cu cuțitul de bucătărie", "ro"),
    ("je me suis coupée avec un couteau de cuisine", "fr"),
    ("когда можно собирать вещи для переезда", "ru"),
    ("医生给我吃了药 还要再去吗", "zh"),
    ("ممكن ينقلوني لسكن تاني", "ar"),
])
def test_ordinary_look_alikes_do_not_match(text, language):
    assert not signals_danger(text, language)


@pytest.mark.parametrize(("text", "lang"), [
    ("I'm worried about my friend, her boyfriend holds all her money. She's not in danger right "
     "now, but is this exploitation?", "en"),
    ("Hon är inte i fara nu men är det normalt att han bestämmer över hennes pengar?", "sv"),
    ("Nu e în pericol acum, dar e exploatare?", "ro"),
    ("Сега не е в опасност, но това експлоатация ли е?", "bg"),
    ("Elle n'est pas en danger maintenant, mais c'est de l'exploitation ?", "fr"),
    ("Two years ago they beat me. Now I am safe, can I still report them?", "en"),
])
def test_a_denial_of_danger_is_not_a_danger_phrase(text, lang):
    assert not signals_danger(text, lang)


@pytest.mark.parametrize(("text", "lang"), [
    ("he is hitting me, i am not safe", "en"),
    ("he will not let me go and he has a knife", "en"),
    ("jag är inte säker, han slår mig", "sv"),
    ("she is not in danger but i am, he is hitting me now", "en"),
])
def test_denials_cut_only_themselves(text, lang):
    assert signals_danger(text, lang)
