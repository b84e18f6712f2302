"""What a coordinator's reply becomes for the person (issue 13, items 1 and 2).

A reply never silently arrives in a language the person did not choose:
- a ready-made phrase (catalog entries `coord_*`) is sent as the catalog's text in the
  person's language, no machine translation needed;
- free text is machine translated into the person's language when a model exists;
- without one, free text goes out only when the coordinator ticks "send untranslated", and
  then after a catalog line in the person's language saying so (`coord_note_untranslated_*`).
The console says which of these will happen before anything is sent.
"""

from __future__ import annotations

import logging

from gateway.console.html import csrf_field, e, lang_attrs
from gateway.models import Message
from translations.catalog import Catalog, UnknownResponse
from translations.mt import Translator

log = logging.getLogger(__name__)

# Ready-made phrases, in the order the console offers them.
PHRASES = ("coord_i_am_here", "coord_are_you_safe", "coord_call_112", "coord_where_roughly",
           "coord_can_you_talk", "coord_wait", "coord_call_back")
# The line before an untranslated reply, by the language the coordinator wrote in.
UNTRANSLATED_NOTE = {"sv": "coord_note_untranslated_sv", "en": "coord_note_untranslated_en"}
WRITTEN_IN = {"sv": "Swedish / svenska", "en": "English / engelska"}
LANGUAGE_NAMES = {
    "en": "English", "sv": "svenska", "ro": "română", "bg": "български", "hu": "magyar",
    "pl": "polski", "ru": "русский", "uk": "українська", "es": "español", "fr": "français",
    "th": "ไทย", "zh": "中文", "ar": "العربية",
}
BOT_LABEL = "Rightsline text in Swedish (from the catalog) / Rightslines text på svenska"


def language_name(code: str) -> str:
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


def can_translate(translator: Translator, source: str, target: str) -> bool:
    if source == target:
        return True
    try:
        return bool(translator.can_translate(source, target))
    except Exception:  # noqa: BLE001 - a broken model means: no translation
        log.warning("console: can_translate %s->%s failed", source, target)
        return False


def form_of(channel: str) -> str:
    return "sms" if channel == "sms" else "web"


def has_phrases(catalog: Catalog, lang: str) -> bool:
    return all(catalog.raw(p, lang, "web") for p in PHRASES)


def phrase_text(catalog: Catalog, phrase: str, lang: str, channel: str) -> str:
    """The phrase in the person's language (never the English fallback: raises instead)."""
    if phrase not in PHRASES or not catalog.raw(phrase, lang, "web"):
        raise UnknownResponse(f"{phrase} has no text in {lang}")
    return catalog.render(phrase, lang, form_of(channel))  # type: ignore[arg-type]


def untranslated_body(catalog: Catalog, written_in: str, target: str, text: str) -> str:
    """The free text as sent without a translation: the person's own line first."""
    note = catalog.render(UNTRANSLATED_NOTE[written_in], target, "web")
    return f"{note}\n\n{text}"


def reply_section(action: str, csrf: str, catalog: Catalog, translator: Translator,
                  target: str, channel: str, text: str = "", written_in: str = "sv",
                  error: str = "") -> str:
    """The two reply forms (phrase, free text), with what the person will receive."""
    name = language_name(target)
    parts = [f'<p class="reply-target" id="reply-target">The person chose <strong>{e(name)}'
             '</strong>. / Personen valde ' + e(name) + '.</p>']
    if error:
        parts.append(f'<p class="error" role="alert">{e(error)}</p>')
    # 1. Ready-made phrases: the catalog's text in the person's language.
    if has_phrases(catalog, target):
        options = []
        for i, phrase in enumerate(PHRASES):
            swedish = catalog.render(phrase, "sv", "web")
            theirs = phrase_text(catalog, phrase, target, channel)
            options.append(
                f'<li><input type="radio" name="phrase" id="phrase-{i}" value="{e(phrase)}" '
                f'required><label for="phrase-{i}">{e(swedish)} → '
                f'<span{lang_attrs(target)}>{e(theirs)}</span></label></li>')
        parts.append(
            f'<form method="post" action="{e(action)}" class="reply-phrase">{csrf_field(csrf)}'
            f'<fieldset><legend>Ready-made reply, sent in {e(name)} exactly as shown (no '
            f'machine translation) / Färdigt svar, skickas på {e(name)}</legend>'
            f'<ul class="phrases">{"".join(options)}</ul></fieldset>'
            f'<button type="submit">Send this phrase in {e(name)} / Skicka frasen</button>'
            '</form>')
    else:
        parts.append(f'<p class="notice">No ready-made phrases exist in {e(name)}.</p>')
    # 2. Free text: say per written language what the person will get.
    will = []
    for lang, label in WRITTEN_IN.items():
        if lang == target:
            what = f"sent as written (it is the person's language)"
        elif can_translate(translator, lang, target):
            what = f"machine translated into {name}, labelled “machine translated”"
        else:
            what = (f"NO translation into {name} is available: sent only if you tick “send "
                    "untranslated”, after a line in their language saying it was not translated")
        will.append(f"<li>Written in {e(label)}: {e(what)}.</li>")
    options = "".join(f'<option value="{e(v)}"{" selected" if v == written_in else ""}>'
                      f'{e(label)}</option>' for v, label in WRITTEN_IN.items())
    parts.append(
        f'<form method="post" action="{e(action)}" class="reply">{csrf_field(csrf)}'
        '<p>What the person will receive / Vad personen får:</p>'
        f'<ul class="reply-outcome">{"".join(will)}</ul>'
        '<label for="text">Your own reply / Eget svar (1–2000 characters)</label>'
        f'<textarea id="text" name="text" rows="5" required maxlength="2000">{e(text)}'
        '</textarea>'
        f'<label for="lang">Written in / Skrivet på</label>'
        f'<select id="lang" name="lang">{options}</select>'
        '<p><input type="checkbox" id="untranslated" name="untranslated" value="yes">'
        f'<label for="untranslated">Send untranslated if there is no translation into '
        f'{e(name)} (the person is told in their language that it was not translated) / '
        'Skicka oöversatt om ingen översättning finns</label></p>'
        '<button type="submit">Send reply / Skicka svar</button></form>')
    return "".join(parts)


def swedish_of_outbound(catalog: Catalog, message: Message, channel: str,
                        values: dict[str, object]) -> str | None:
    """For the conversation view: the Swedish catalog text of a bot message (by response
    name, rendered with the same values) or of a coordinator phrase; None otherwise."""
    name = message.response_name
    if message.direction != "outbound" or not name:
        return None
    if name == "coordinator_reply":
        lang = message.language or ""
        for phrase in PHRASES:
            try:
                if message.text == phrase_text(catalog, phrase, lang, channel):
                    return catalog.render(phrase, "sv", "web")
            except UnknownResponse:
                return None
        return None
    if not catalog.has_response(name):
        return None
    try:
        return catalog.render(name, "sv", form_of(channel), values)  # type: ignore[arg-type]
    except (UnknownResponse, KeyError):
        return None
