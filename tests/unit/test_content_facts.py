"""Every fact lives once and reaches every reader; no language makes a forbidden promise.

- Numbers and durations come from translations/facts.yml, phone numbers from contacts.yml,
  both through placeholders: a text with a digit of its own would go stale unseen.
- A language's web and SMS forms state exactly the numbers of their English source.
- An SMS form may leave out a fact of its web form only if it ends by offering MORE (the
  SMS keyword that sends the full answer, gateway/sms/keywords.py).
- The never-promise list of translations/README.md, in every language.
"""

from __future__ import annotations

import re
from collections import Counter

import polib
import pytest
import yaml

from gateway.sms.keywords import match_sms_keyword, more_reply
from translations.catalog import CATALOG_DIR, MORE_KEYWORD, Catalog, Facts, placeholders
from translations.languages import CORE_LANGUAGES

RUNTIME = {"retention_days": 30}
# "24/7", "24 hours", "0-24" (Hungarian for round the clock): opening hours, said in words in
# some languages ("dygnet runt"), so not compared as numbers.
HOURS = re.compile(r"0-24|24\s*/\s*7|24")
DIGITS = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9\u0e50-\u0e59]+")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def entries(lang: str) -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(CATALOG_DIR / lang / "messages.po"))
            if e.msgctxt and not e.msgctxt.startswith("ui_")]


def numbers(text: str) -> Counter[str]:
    return Counter(DIGITS.findall(HOURS.sub(" ", text)))


def answers(catalog: Catalog) -> list[str]:
    return sorted(n for n in catalog.responses("en")
                  if catalog.raw(n, "en", "web") and catalog.raw(n, "en", "sms"))


def test_facts_have_a_value_a_source_and_a_date_checked():
    facts = Facts.load()
    assert facts.last_checked.year >= 2026
    raw = yaml.safe_load((CATALOG_DIR.parent / "facts.yml").read_text())
    for key, entry in raw["facts"].items():
        assert str(entry["value"]).strip(), key
        assert entry["source"].startswith("http"), key


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_no_text_states_a_number_of_its_own(lang):
    """Numbers come through placeholders only (facts.yml, contacts.yml), so they live once."""
    own = {e.msgctxt: DIGITS.findall(HOURS.sub(" ", re.sub(r"\{\w+\}", " ", e.msgstr or e.msgid)))
           for e in entries(lang)}
    assert not {ctx: found for ctx, found in own.items() if found}


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_every_form_states_the_numbers_of_its_english_source(catalog, lang):
    """The same numbers as English: a web form exactly; an SMS form that offers MORE may
    leave some to the full answer, never state another."""
    differ = {}
    for name in sorted(n for n in catalog.responses("en") if not n.startswith("ui_")):
        for form in ("web", "sms"):
            english = catalog.raw(name, "en", form)
            if english is None:
                continue
            want = set(numbers(catalog.render(name, "en", form, RUNTIME)))
            text = catalog.render(name, lang, form, RUNTIME)
            got = set(numbers(text))
            if form == "web" or MORE_KEYWORD not in text:
                wrong = got != want
            else:
                # A short SMS form (UCS-2 holds 201 characters) may keep fewer numbers when it
                # offers MORE, but never one that its English source does not state.
                wrong = not got <= want | set(numbers(catalog.render(name, "en", "web", RUNTIME)))
            if wrong:
                differ[f"{name}|{form}"] = (sorted(want), sorted(got))
    assert not differ


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_every_fact_of_the_web_form_reaches_an_sms_reader(catalog, lang):
    """Every number and contact of the web form is in the SMS form, or the SMS form offers
    MORE, which sends the web form."""
    lost = {}
    for name in answers(catalog):
        web, sms = catalog.raw(name, lang, "web"), catalog.raw(name, lang, "sms")
        missing = placeholders(web) - placeholders(sms)
        missing |= set(numbers(catalog.render(name, lang, "web", RUNTIME))) - set(
            numbers(catalog.render(name, lang, "sms", RUNTIME)))
        if missing and MORE_KEYWORD not in sms:
            lost[name] = sorted(missing)
    assert not lost


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_an_sms_form_that_offers_more_ends_with_it_and_more_sends_the_full_answer(catalog, lang):
    for name in answers(catalog):
        sms = catalog.render(name, lang, "sms", RUNTIME)
        if MORE_KEYWORD not in sms:
            continue
        assert MORE_KEYWORD in sms.strip().splitlines()[-1], f"{lang} {name}: MORE not at the end"
        parts = more_reply(catalog, name, lang, RUNTIME)
        assert " ".join(parts).split() == catalog.render(name, lang, "web", RUNTIME).split()


def test_more_is_a_keyword_in_every_language():
    for word in (MORE_KEYWORD, "more", "More.", "MER", "ещё", "още", "WIĘCEJ", "更多", "المزيد",
                 "เพิ่ม", "más", "plus", "tovább", "mai mult", "більше"):
        assert match_sms_keyword(word) == "more", word
    assert match_sms_keyword("more information about the reflection period") is None


# The never-promise list (translations/README.md), in every language. "guarantee": every
# sentence that names it must also deny it. The phrases: "you will not be deported /
# expelled / punished" and "you will get a permit / compensation / a reflection period".
GUARANTEE = {
    "en": (r"guarant", r"\b(not|never|no)\b"),
    "sv": (r"garant", r"\b(inte|aldrig|ingen|inget|ej)\b"),
    "ro": (r"garant", r"\b(nu|niciodată|nicio|niciun)\b"),
    "bg": (r"гарант", r"(\bне\b|никога|няма|\bбез\b)"),
    "hu": (r"garan", r"\b(nem|nincs|soha|sem)\b"),
    "pl": (r"gwarant", r"\b(nie|nigdy|brak|żadn\w*)\b"),
    "ru": (r"гарант", r"(\bне\b|\bнет\b|никогда)"),
    "uk": (r"гарант", r"(\bне\b|немає|ніколи)"),
    "es": (r"garant", r"\b(no|nunca|ningún|ninguna|sin)\b"),
    "fr": (r"garanti", r"\b(pas|jamais|aucun|aucune|sans)\b"),
    "th": (r"รับประกัน", r"ไม่"),
    "zh": (r"保证|担保", r"不|没|无|未"),
    "ar": (r"مضمون|ضمان|نضمن|يضمن|مضمونة", r"(^|\s)(لا|ليس|ليست|لن|لم|غير)(\s|$)"),
}
PROMISES = {
    "en": [r"\byou will (not|never) be (punished|prosecuted|deported|expelled|sent)",
           r"\byou will (get|receive|be given)\b[^.]*\b(permit|reflection|compensation|asylum|place)"],
    "sv": [r"\b(du )?kommer (inte|aldrig) att (utvisas|avvisas|straffas|skickas)",
           r"\bkommer (du )?att få (ett )?(uppehållstillstånd|betänketid|ersättning|skadestånd)"],
    "ro": [r"\bnu (vei|veți) fi (expulzat|deportat|pedepsit|trimis)",
           r"\b(vei|veți) (primi|obține) (un |o )?(permis|perioad|despăgubir|compensați)"],
    "bg": [r"няма да (бъдете|бъдеш) (експулсиран|депортиран|наказан|изгонен)",
           r"ще (получите|получиш) (разрешение|обезщетение|период)"],
    "hu": [r"\bnem (fogják|fognak) (kiutasítani|kitoloncolni|megbüntetni)",
           r"\b(meg fogja kapni|meg fogod kapni)"],
    "pl": [r"\bnie (zostaniesz|zostanie pani|zostanie pan) (deportowan|wydalon|ukaran)",
           r"\b(otrzymasz|dostaniesz) (zezwoleni|odszkodowani|okres|pozwoleni)"],
    "ru": [r"вас не (вышлют|депортируют|накажут)", r"вы получите (разрешение|компенсаци|период)"],
    "uk": [r"вас не (вишлють|депортують|покарають)", r"ви отримаєте (дозвіл|компенсаці|період)"],
    "es": [r"\bno (será|serás) (expulsad|deportad|castigad)",
           r"\b(recibirá|recibirás|obtendrá|obtendrás) (un |una |el |la )?(permiso|indemnizaci|periodo|período|compensaci)"],
    "fr": [r"\bne (serez|seras) (pas|jamais) (expulsé|renvoyé|puni)",
           r"\bvous (obtiendrez|recevrez) (un |une |le |la )?(permis|titre|indemni|période|compensation)"],
    "th": [r"จะไม่ถูก(เนรเทศ|ส่งกลับ|ลงโทษ)", r"จะได้รับ(ใบอนุญาต|ค่าชดเชย|ระยะเวลาไตร่ตรอง)"],
    "zh": [r"不会被(驱逐|遣返|惩罚|处罚)", r"(将|会)(获得|得到)(居留许可|赔偿|考虑期)"],
    "ar": [r"لن (يتم )?(ترحيل|تُرحّل|ترحل|تُعاقب|تعاقب|يعاقب)", r"(ستحصل|ستحصلين|ستحصلون) على (تصريح|تعويض|فترة)"],
}
SENTENCE = re.compile(r"(?<=[.!?。！？])\s*|\n")


def test_every_core_language_has_a_never_promise_list():
    assert set(GUARANTEE) == set(PROMISES) == set(CORE_LANGUAGES)


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_no_language_makes_a_forbidden_promise(lang):
    word, negation = GUARANTEE[lang]
    problems = []
    for entry in entries(lang):
        text = (entry.msgstr or entry.msgid).lower()
        problems += [(entry.msgctxt, p) for p in PROMISES[lang] if re.search(p, text)]
        for sentence in SENTENCE.split(text):
            if re.search(word, sentence) and not re.search(negation, sentence):
                problems.append((entry.msgctxt, sentence))
    assert not problems
