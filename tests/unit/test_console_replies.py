"""Issue 13 items 1, 2, 4: what a reply becomes for the person (said before sending; phrases
from the catalog; untranslated only deliberately and labelled), the bot's texts in Swedish
from the catalog, and the request's paging state in words."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from gateway.escalation.models import Escalation, OnCallShift, StaffUser
from gateway.models import Conversation, Message, OutboxMessage
from tests.unit.test_console import (  # noqa: F401 - env is a fixture
    audit_log, csrf_of, env, sign_in)
from translations.catalog import Catalog
from translations.languages import CORE_LANGUAGES
from translations.mt import FakeTranslator

CATALOG = Catalog.load()
PHRASES = ("coord_i_am_here", "coord_are_you_safe", "coord_call_112", "coord_where_roughly",
           "coord_can_you_talk", "coord_wait", "coord_call_back")


def test_every_coordinator_phrase_and_note_exists_in_every_language():
    for lang in CORE_LANGUAGES:
        for name in PHRASES + ("coord_note_untranslated_sv", "coord_note_untranslated_en"):
            assert CATALOG.raw(name, lang, "web"), f"{lang}:{name}"
    assert "112" in CATALOG.render("coord_call_112", "ro", "web")


def romanian(db, client) -> None:
    """The web conversation is in Romanian, and nothing translates into Romanian."""
    with db.session() as s:
        s.get(Conversation, "c" * 24).language = "ro"
    client.app.state.turn_context.translator = FakeTranslator({("ro", "sv"), ("sv", "pl")})


def replies(db) -> list[Message]:
    with db.session() as s:
        rows = s.scalars(sa.select(Message).where(Message.response_name == "coordinator_reply")
                         .order_by(Message.id)).all()
        s.expunge_all()
        return rows


def test_the_page_says_before_sending_that_no_translation_exists(env):
    client, db, ids = env
    romanian(db, client)
    sign_in(client)
    view = client.get(f"/console/escalations/{ids['vast']}").text
    assert "română (ro)" in view
    assert "NO translation into română (ro) is available" in view
    assert "machine translated into the person" not in view  # the old, false promise
    assert 'name="untranslated"' in view and 'name="phrase"' in view
    # The phrases are shown in the person's language before sending.
    assert CATALOG.render("coord_are_you_safe", "ro", "web") in view


def test_untranslated_free_text_is_refused_unless_chosen_and_then_labelled(env):
    client, db, ids = env
    romanian(db, client)
    sign_in(client)
    url = f"/console/escalations/{ids['vast']}"
    resp = client.post(f"{url}/reply", data={"csrf": csrf_of(client, url), "text": "Hej där",
                                             "lang": "sv"})
    assert resp.status_code == 409 and "Nothing was sent" in resp.text
    assert "Hej där" in resp.text  # what the coordinator typed is kept
    assert replies(db) == []
    resp = client.post(f"{url}/reply", data={"csrf": csrf_of(client, url), "text": "Hej där",
                                             "lang": "sv", "untranslated": "yes"},
                       follow_redirects=False)
    assert resp.status_code == 303
    [reply] = replies(db)
    note = CATALOG.render("coord_note_untranslated_sv", "ro", "web")
    assert reply.text == f"{note}\n\nHej där" and not reply.is_machine_translated
    details = [d for _, a, _, d in audit_log(db) if a in ("replied", "reply_refused")]
    assert "kind=untranslated" in details[0] and "kind=untranslated" in details[1]
    assert not any("Hej" in d for d in details)


def test_a_phrase_goes_out_in_the_persons_language_by_sms_too(env):
    client, db, ids = env
    with db.session() as s:
        s.get(Conversation, "s" * 24).language = "ro"
    client.app.state.turn_context.translator = FakeTranslator(set())
    sign_in(client)
    url = f"/console/escalations/{ids['vast_sms']}"
    assert client.post(f"{url}/reply", data={"csrf": csrf_of(client, url),
                                             "phrase": "coord_call_112"},
                       follow_redirects=False).status_code == 303
    [reply] = replies(db)
    text = CATALOG.render("coord_call_112", "ro", "sms")
    assert reply.text == text and reply.language == "ro" and not reply.is_machine_translated
    with db.session() as s:
        assert [r.body for r in s.scalars(sa.select(OutboxMessage))] == [text]
    detail = next(d for _, a, _, d in audit_log(db) if a == "replied")
    assert "kind=phrase phrase=coord_call_112" in detail and text not in detail
    # An unknown phrase is refused; nothing is sent.
    assert client.post(f"{url}/reply", data={"csrf": csrf_of(client, url),
                                             "phrase": "utter_greet"}).status_code == 400
    assert len(replies(db)) == 1


def test_the_bots_messages_are_shown_in_swedish_from_the_catalog(env):
    client, db, ids = env
    sign_in(client)
    view = client.get(f"/console/escalations/{ids['vast']}").text
    swedish = CATALOG.render("utter_handoff_paged", "sv", "web")
    assert swedish.split("\n")[0] in view.replace("&#x27;", "'")
    assert "Rightsline text in Swedish (from the catalog)" in view
    # The person's own words are machine translated, labelled.
    assert "[sv] Potrzebuję pomocy" in view and "Maskinöversatt / Machine translated" in view
    assert "[sv] Możesz porozmawiać" not in view  # the bot's text is not machine translated


def test_the_request_page_says_who_was_paged_what_happens_next_and_warns(env):
    client, db, ids = env
    clock = client.app.state.escalations.clock
    with db.session() as s:
        anna = s.get(StaffUser, ids["anna"])
        anna.pager_encrypted = client.app.state.sms.vault.encrypt("+46701000001")
        s.add(OnCallShift(region_code="vast", staff_id=anna.id, position="primary",
                          starts_at=clock.now - timedelta(hours=1),
                          ends_at=clock.now + timedelta(hours=8)))
        esc = s.get(Escalation, ids["vast_danger"])
        esc.state, esc.step, esc.step_due_at = "requested", "none", clock.now
    client.app.state.escalations.run_due_steps()
    sign_in(client)
    url = f"/console/escalations/{ids['vast_danger']}"
    view = client.get(url).text
    assert "Anna (on call) was paged by SMS." in view
    # Danger: 5 minutes; no backup and no fallback: nobody more.
    assert re.search(r"If nobody acknowledges by .* \(in [45] min\), NOBODY more will be paged",
                     view), view
    assert "No fallback contact is set" in view and "no backup is on call now" in view
    queue = client.get("/console").text
    assert "No fallback contact is set" in queue and "Region Väst: no backup" in queue
    csrf = csrf_of(client, url)
    client.post(f"{url}/ack", data={"csrf": csrf})
    view = client.get(url).text
    assert "Acknowledged by Anna at" in view and "Nobody else will be paged" in view
    again = client.post(f"{url}/ack", data={"csrf": csrf})
    assert again.status_code == 409 and "Acknowledged by Anna at" in again.text
