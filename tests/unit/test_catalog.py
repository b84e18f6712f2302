"""The content catalog: complete in every core language, consistent, short enough for SMS,
and free of the promises the line must never make."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
import yaml

from gateway.conversations.turn import GATEWAY_RESPONSES
from gateway.outreach.cards import CARD_RESPONSE
from gateway.webchat.page import UI_STRINGS
from translations.catalog import CATALOG_DIR, FORMS, MORE_KEYWORD, Catalog, Contacts, placeholders
from translations.languages import CORE_LANGUAGES
from translations.sms import segment_info

REPO = Path(__file__).resolve().parents[2]
MAX_SMS_SEGMENTS = 3
# The runtime placeholders, as the gateway's NLG fills them (gateway.nlg.router.runtime_values).
RUNTIME = {"retention_days": 30}


def domain_responses() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "bot" / "domain").glob("*.yml"):
        names |= set((yaml.safe_load(path.read_text()) or {}).get("responses", {}) or {})
    return names


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_every_core_language_has_a_catalog_and_a_review_status():
    for lang in CORE_LANGUAGES:
        folder = CATALOG_DIR / lang
        assert (folder / "messages.po").exists(), f"{lang}: no messages.po"
        status = yaml.safe_load((folder / "status.yml").read_text())["status"]
        assert status in {"draft", "reviewed"}, lang


def test_every_response_exists_in_every_language_in_both_forms(catalog):
    wanted = domain_responses() | GATEWAY_RESPONSES
    assert wanted <= catalog.responses("en"), wanted - catalog.responses("en")
    missing = [
        f"{lang}:{name}|{form}"
        for lang in CORE_LANGUAGES
        for name in sorted(wanted)
        for form in FORMS
        if not catalog.raw(name, lang, form)
    ]
    # The web chat page's own words (web form only).
    assert UI_STRINGS <= catalog.responses("en"), UI_STRINGS - catalog.responses("en")
    missing += [f"{lang}:{name}|web" for lang in CORE_LANGUAGES for name in sorted(UI_STRINGS)
                if not catalog.raw(name, lang, "web")]
    # The outreach QR card's invitation (web form only).
    missing += [f"{lang}:{CARD_RESPONSE}|web" for lang in CORE_LANGUAGES
                if not catalog.raw(CARD_RESPONSE, lang, "web")]
    assert not missing, missing


def test_translations_keep_the_sources_placeholders_and_msgids():
    source = {e.msgctxt: e.msgid for e in polib.pofile(str(CATALOG_DIR / "en" / "messages.po"))}
    for lang in CORE_LANGUAGES:
        for entry in polib.pofile(str(CATALOG_DIR / lang / "messages.po")):
            if not entry.msgctxt:
                continue
            assert entry.msgid == source.get(entry.msgctxt), f"{lang} {entry.msgctxt}: stale msgid"
            text = entry.msgstr or entry.msgid
            if entry.msgctxt.endswith("|sms") and MORE_KEYWORD in text:
                # A short form that offers MORE (which sends the web form) may leave some out,
                # never add one (tests/unit/test_content_facts.py checks what MORE sends).
                assert placeholders(text) <= placeholders(entry.msgid), entry.msgctxt
                continue
            assert placeholders(text) == placeholders(entry.msgid), (
                f"{lang} {entry.msgctxt}: placeholders differ"
            )


def test_every_text_renders_with_the_contacts_file(catalog):
    for lang in CORE_LANGUAGES:
        for name in catalog.responses("en"):
            for form in FORMS:
                text = catalog.render(name, lang, form, RUNTIME)
                assert "{" not in text and "}" not in text, f"{lang} {name}|{form}"


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_sms_forms_fit_in_three_segments(catalog, lang):
    too_long = {}
    for name in catalog.responses("en"):
        info = segment_info(catalog.render(name, lang, "sms", {"retention_days": 365}))
        if info.segments > MAX_SMS_SEGMENTS:
            too_long[name] = (info.encoding, info.units, info.segments)
    assert not too_long, too_long


# Phone numbers live in contacts.yml only; a text that hard-codes one would go stale unseen.
PHONE_LIKE = re.compile(r"\b(112|114 ?14|116 ?006|0\d{1,3}-\d)")


def test_no_text_hard_codes_a_phone_number():
    for lang in CORE_LANGUAGES:
        for entry in polib.pofile(str(CATALOG_DIR / lang / "messages.po")):
            text = entry.msgstr or entry.msgid
            assert not PHONE_LIKE.search(text), f"{lang} {entry.msgctxt}: {PHONE_LIKE.search(text)}"


def test_the_professionals_line_is_never_given_to_users(catalog):
    assert "020-39" not in str(catalog.contacts.numbers)


def test_contacts_have_a_last_checked_date_and_a_source():
    contacts = Contacts.load()
    assert contacts.last_checked.year >= 2026
    raw = yaml.safe_load((REPO / "translations" / "contacts.yml").read_text())
    for key, entry in raw["contacts"].items():
        assert entry.get("source", "").startswith("http"), key


# What the line must never say (checked mechanically on the English source; the
# translations are reviewed by people — see each language's status.yml).
FORBIDDEN = [
    (r"\byou (will|are going to) (get|receive|be given)\b[^.]*\b(permit|reflection|compensation|"
     r"asylum|shelter|place|money)", "promises an outcome"),
    (r"\byou can apply (yourself )?for (a |the )?(reflection|betänketid)", "self-application"),
    (r"\bapply for (the )?(reflection period|betänketid) yourself\b", "self-application"),
    (r"selling sex is (a crime|illegal|against the law|forbidden)", "selling sex is legal"),
    (r"\b(police|nobody|no one) will (not|never) (be told|know|find out|be involved)", "no-police promise"),
    (r"\byou will (not|never) be (punished|prosecuted|deported|expelled|sent home)", "immunity promise"),
    (r"\b(tell|send|give) (me|us) your (full )?(name|address|id|passport)", "asks for identity"),
    (r"\bI am (the police|an authority|an emergency service)", "pretends to be an authority"),
]


def test_the_english_source_makes_no_forbidden_promise():
    problems = []
    for entry in polib.pofile(str(CATALOG_DIR / "en" / "messages.po")):
        text = entry.msgid.lower()
        for pattern, why in FORBIDDEN:
            if re.search(pattern, text, re.IGNORECASE):
                problems.append((entry.msgctxt, why))
        for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
            if "guarantee" in sentence:
                assert re.search(r"\b(not|never|no)\b", sentence), (entry.msgctxt, sentence)
    assert not problems, problems


def test_the_reflection_period_answer_says_who_applies_and_that_it_is_not_certain(catalog):
    for form in FORMS:
        text = catalog.render("utter_reflection_period", "en", form).lower()
        assert "30" in text
        assert "social services" in text and "police" in text
        assert "migrationsverket" in text
        assert "cannot apply" in text or "can't apply" in text


def test_emergency_answer_puts_112_first_in_every_language(catalog):
    for lang in CORE_LANGUAGES:
        for form in FORMS:
            text = catalog.render("utter_emergency", lang, form)
            first_line = text.strip().splitlines()[0]
            assert "112" in first_line, f"{lang} {form}: {first_line}"


@pytest.mark.parametrize("lang", CORE_LANGUAGES)
def test_the_danger_turn_fits_one_sms_turn_with_the_offer_of_a_person(catalog, lang):
    """In danger the bot sends 112 and then asks whether a coordinator may contact them: both
    must go out in the same SMS turn, or the person never sees the question they are asked."""
    from gateway.config import Settings
    from gateway.messaging.segments import plan_messages

    texts = [catalog.render(name, lang, "sms")
             for name in ("utter_emergency", "utter_emergency_offer_handoff")]
    planned = plan_messages(texts, Settings().sms_max_segments_per_turn)
    assert " ".join(planned).split() == " ".join(texts).split()


def test_the_gateways_own_texts_exist_everywhere_and_need_no_runtime_value(catalog):
    """The gateway renders these itself (fixed_messages, SmsContext.form, the escalation
    notifier, blocks, outages), some without the deployment's runtime values: none may need
    one. Only the NLG (and MORE) render texts with {retention_days}."""
    from gateway.escalation.notify import EVENT_RESPONSES
    from translations.catalog import RUNTIME_PLACEHOLDERS

    names = set(GATEWAY_RESPONSES) | set(EVENT_RESPONSES.values()) | {
        "utter_emergency", "utter_unavailable_unsaved", "utter_blocked", "utter_rate_limited"}
    for lang in CORE_LANGUAGES:
        for name in sorted(names):
            for form in FORMS:
                text = catalog.raw(name, lang, form)
                assert text, f"{lang}:{name}|{form}"
                assert not placeholders(text) & RUNTIME_PLACEHOLDERS, f"{lang}:{name}|{form}"
                if name in {"utter_unavailable_unsaved", "utter_blocked"}:
                    assert "{emergency}" in text, f"{lang}:{name}|{form}"
