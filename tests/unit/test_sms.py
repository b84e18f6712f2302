"""The SMS webhook, signed with the twilio library's own validator, answered with TwiML; the
outbox talking to a fake Twilio API server through the real twilio REST client."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.models import Conversation, Message, OutboxMessage, utcnow
from gateway.messaging.outbox import OutboxWorker
from gateway.messaging.vault import NumberVault
from gateway.messaging.segments import plan_messages, split_message
from gateway.messaging.sender import TwilioSender
from gateway.sms.simulator import inbound_params
from tests.support.fake_twilio import FakeTwilio
from tests.unit.fakes import STRONG_TEST_SECRETS, FakeRasa
from translations.sms import segment_info

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://rightsline.example.org/base"  # what Twilio sees, behind the proxy
NUMBER = "+46701234567"
INBOUND = "/sms/twilio/inbound"


def make_settings(url: str, **overrides) -> Settings:
    values = dict(database_url=url, environment="test", twilio_auth_token=TOKEN,
                  public_base_url=PUBLIC, detect_language=False, **STRONG_TEST_SECRETS)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa(reply="utter_reflection_period")


@pytest.fixture
def env(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    settings = make_settings(sqlite_url)
    app = create_app(settings, rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app) as client:
        yield client, Database(sqlite_url), app


def post_signed(client, params, *, query: str = "", token: str = TOKEN, signature=None):
    url = f"{PUBLIC}{INBOUND}{query}"
    headers = {}
    if signature is not False:
        headers["X-Twilio-Signature"] = signature or RequestValidator(token).compute_signature(url, params)
    return client.post(f"{INBOUND}{query}", data=params, headers=headers)


def texts(resp) -> list[str]:
    assert resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.text)
    assert root.tag == "Response"
    return [m.text for m in root.findall("Message")]


def count(db: Database, model) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_signed_message_is_answered_with_twiml(env, rasa):
    client, db, _ = env
    resp = post_signed(client, inbound_params(NUMBER, "+46700000000", "vad är betänketid"))
    assert resp.status_code == 200
    assert texts(resp) == ["text of utter_reflection_period"]
    assert rasa.received[0]["metadata"]["channel"] == "sms"


def test_signature_covers_the_query_string_and_the_public_url(env):
    client, _, _ = env
    params = inbound_params(NUMBER, "+46700000000", "hej")
    assert post_signed(client, params, query="?campaign=card-7").status_code == 200
    # Signed for the internal URL instead of the public one: refused.
    internal = RequestValidator(TOKEN).compute_signature(f"http://testserver{INBOUND}", params)
    assert post_signed(client, params, signature=internal).status_code == 403


@pytest.mark.parametrize("how", ["forged", "missing", "other-token"])
def test_a_forged_or_missing_signature_is_403_and_nothing_is_stored(env, rasa, how):
    client, db, _ = env
    params = inbound_params(NUMBER, "+46700000000", "hej")
    if how == "forged":
        resp = post_signed(client, params, signature="bm90IGEgc2lnbmF0dXJl")
    elif how == "missing":
        resp = post_signed(client, params, signature=False)
    else:
        resp = post_signed(client, params, token="someone-elses-token")
    assert resp.status_code == 403
    assert count(db, Conversation) == 0 and count(db, Message) == 0
    assert rasa.received == []


def test_a_repeated_delivery_gives_no_second_turn_or_reply(env, rasa):
    client, db, _ = env
    params = inbound_params(NUMBER, "+46700000000", "hej")
    first = post_signed(client, params)
    again = post_signed(client, params)
    assert texts(first) and texts(again) == []
    assert len(rasa.received) == 1
    assert count(db, Message) == 2


@pytest.mark.parametrize(("body", "media"), [("", "1"), ("", "0"), ("   ", "0")])
def test_media_and_empty_messages_get_a_helpful_text(env, rasa, body, media):
    client, _, _ = env
    params = inbound_params(NUMBER, "+46700000000", body) | {"NumMedia": media}
    [reply] = texts(post_signed(client, params))
    assert "only read text" in reply and "112" in reply
    assert rasa.received == []


def test_stop_start_and_help(env, rasa):
    client, db, _ = env
    [stopped] = texts(post_signed(client, inbound_params(NUMBER, "", "STOP")))
    assert "START" in stopped
    with db.session() as s:
        assert s.scalar(sa.select(Conversation.is_opted_out))
    [started] = texts(post_signed(client, inbound_params(NUMBER, "", "start")))
    assert "on again" in started
    [helped] = texts(post_signed(client, inbound_params(NUMBER, "", "Hjälp")))
    assert "DELETE" in helped and "STOP" in helped
    for reply in (stopped, started, helped):  # keywords' replies stay discreet
        assert not any(w in reply.lower() for w in ("traffick", "prostitut", "sex"))
    assert rasa.received == []


def test_delete_erases_the_conversation_and_the_encrypted_number(env, rasa):
    client, db, _ = env
    post_signed(client, inbound_params(NUMBER, "", "hej"))
    [confirmation] = texts(post_signed(client, inbound_params(NUMBER, "", "RADERA")))
    assert "112" in confirmation
    assert count(db, Conversation) == 0 and count(db, Message) == 0


def test_one_sender_cannot_flood_the_line_and_gets_one_notice(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url, rate_limit_per_sender=3), rasa=rasa.client(),
                     start_outbox_worker=False)
    with TestClient(app) as client:
        replies = [texts(post_signed(client, inbound_params(NUMBER, "", f"fråga {i}")))
                   for i in range(6)]
        other = texts(post_signed(client, inbound_params("+46709999999", "", "hej")))
    assert all(r == ["text of utter_reflection_period"] for r in replies[:3])
    assert "wait a few minutes" in replies[3][0] and "112" in replies[3][0]
    assert replies[4] == [] and replies[5] == []
    assert other == ["text of utter_reflection_period"]
    assert len(rasa.received) == 4
    with Database(sqlite_url).session() as s:  # nothing is lost: every message is kept
        assert s.scalar(sa.select(sa.func.count()).select_from(Message)
                        .where(Message.direction == "inbound")) == 7


def test_a_discreet_number_greets_without_naming_the_subject(sqlite_url):
    from tests.unit.test_nlg import nlg_body

    AUTH = {"Authorization": f"Bearer {STRONG_TEST_SECRETS['internal_token']}"}

    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url), rasa=FakeRasa().client(), start_outbox_worker=False)
    body = nlg_body("utter_greet", "en", "sms")
    body["tracker"]["latest_message"]["metadata"]["discreet"] = True
    with TestClient(app) as client:
        custom = client.post("/nlg", json=body, headers=AUTH).json()["custom"]
    assert custom["response"] == "utter_greet_discreet"
    assert not any(w in custom["text"].lower() for w in ("traffick", "prostitut", "sex", "exploit"))


def test_no_phone_number_in_the_database_and_no_number_or_text_in_logs(env, caplog, capfd):
    client, db, _ = env
    caplog.set_level(logging.DEBUG)
    secret_text = "min hemliga fråga om betänketid"
    post_signed(client, inbound_params(NUMBER, "+46700000000", secret_text))
    post_signed(client, inbound_params(NUMBER, "+46700000000", "STOP"))
    dump = []
    with db.engine.connect() as conn:
        for table in sa.inspect(db.engine).get_table_names():
            dump += [repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    everything = "\n".join(dump)
    digits = NUMBER.lstrip("+")
    assert digits not in everything and "701234567" not in everything
    logs = caplog.text + "".join(capfd.readouterr())
    assert digits not in logs and "701234567" not in logs
    assert secret_text not in logs and "betänketid" not in logs


def test_a_slow_reply_goes_through_the_outbox_to_twilio(sqlite_url):
    slow = FakeRasa(reply="utter_reflection_period", delay=1.0)
    upgrade_database(sqlite_url)
    with FakeTwilio() as twilio:
        settings = make_settings(sqlite_url, sms_reply_budget_seconds=0.2,
                                 twilio_account_sid="AC" + "1" * 32,
                                 twilio_from_number="+46700000000",
                                 twilio_api_base_url=twilio.base_url)
        app = create_app(settings, rasa=slow.client(), start_outbox_worker=False)
        with TestClient(app) as client:
            resp = post_signed(client, inbound_params(NUMBER, "+46700000000", "betänketid?"))
            assert texts(resp) == []  # answered at once, empty
            worker: OutboxWorker = app.state.outbox_worker
            for _ in range(50):
                if worker.run_once():
                    break
                __import__("time").sleep(0.1)
        assert [c["To"] for c in twilio.created] == [NUMBER]
        assert twilio.created[0]["Body"] == "text of utter_reflection_period"
        assert twilio.created[0]["StatusCallback"] == f"{PUBLIC}/sms/twilio/status"


# --- the outbox on its own -------------------------------------------------------------

@pytest.fixture
def outbox_env(database_url):
    upgrade_database(database_url)
    db = Database(database_url)
    vault = NumberVault("k", Settings().encryption_key.get_secret_value())
    with db.session() as s:
        s.add(OutboxMessage(to_encrypted=vault.encrypt(NUMBER), body="hello"))
    yield db, vault
    db.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def make_worker(db, vault, twilio, clock, **kw) -> OutboxWorker:
    sender = TwilioSender(account_sid="AC" + "2" * 32, auth_token="t", api_base_url=twilio.base_url,
                          messaging_service_sid="MG" + "3" * 32, from_number=None)
    return OutboxWorker(db=db, sender=sender, vault=vault, status_callback_url=None, clock=clock, **kw)


def outbox_row(db) -> OutboxMessage:
    with db.session() as s:
        return s.scalars(sa.select(OutboxMessage)).one()


def test_outbox_retries_after_500_and_429_with_backoff(outbox_env):
    db, vault = outbox_env
    clock = Clock()
    with FakeTwilio() as twilio:
        twilio.fail_next = [500, 429]
        worker = make_worker(db, vault, twilio, clock)
        assert worker.run_once() == 1
        assert outbox_row(db).status == "pending" and outbox_row(db).attempts == 1
        assert worker.run_once() == 0  # backing off
        clock.now += timedelta(seconds=3)
        worker.run_once()
        assert outbox_row(db).attempts == 2 and outbox_row(db).last_error.startswith("twilio 429")
        clock.now += timedelta(seconds=5)
        worker.run_once()
    row = outbox_row(db)
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.twilio_sid == twilio.created[0]["sid"]
    assert twilio.created[0]["To"] == NUMBER and twilio.created[0]["MessagingServiceSid"]


def test_a_permanent_error_is_not_retried(outbox_env):
    db, vault = outbox_env
    with FakeTwilio() as twilio:
        twilio.fail_next = [400]
        make_worker(db, vault, twilio, Clock()).run_once()
    assert outbox_row(db).status == "dead" and twilio.calls == 1


def test_a_sender_killed_between_stored_and_sent_loses_nothing_and_doubles_nothing(outbox_env):
    db, vault = outbox_env
    clock = Clock()
    with FakeTwilio() as twilio:
        crashed = make_worker(db, vault, twilio, clock)
        [(row_id, stale_token)] = crashed.claim()  # ... and the process dies here
        restarted = make_worker(db, vault, twilio, clock)
        assert restarted.run_once() == 0  # the lease still holds
        clock.now += timedelta(seconds=61)
        assert restarted.run_once() == 1
        crashed.send_one(row_id, stale_token)  # a zombie waking up does nothing
        restarted.run_once()
    assert len(twilio.created) == 1
    assert outbox_row(db).status == "sent"


def test_two_workers_racing_claim_each_row_once(outbox_env):
    db, vault = outbox_env
    with db.session() as s:
        for i in range(30):
            s.add(OutboxMessage(to_encrypted=vault.encrypt(NUMBER), body=f"m{i}"))
    from concurrent.futures import ThreadPoolExecutor

    with FakeTwilio() as twilio:
        workers = [make_worker(db, vault, twilio, Clock(), batch_size=50) for _ in range(4)]
        with ThreadPoolExecutor(4) as pool:
            claimed = list(pool.map(lambda w: w.claim(), workers))
    ids = [row_id for batch in claimed for row_id, _ in batch]
    assert len(ids) == len(set(ids)) == 31


def test_status_callbacks_are_verified_and_recorded(env):
    client, db, _ = env
    with db.session() as s:
        s.add(OutboxMessage(to_encrypted="x", body="b", status="sent", twilio_sid="SMabc"))
    params = {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": "AC1"}
    url = f"{PUBLIC}/sms/twilio/status"
    forged = client.post("/sms/twilio/status", data=params, headers={"X-Twilio-Signature": "x"})
    assert forged.status_code == 403
    ok = client.post("/sms/twilio/status", data=params, headers={
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)})
    assert ok.status_code == 204
    assert outbox_row(db).status == "delivered"


# --- segments ----------------------------------------------------------------------------

def test_a_long_thai_reply_is_split_by_ucs2_limits_never_inside_a_word_or_number():
    thai = ("โทร 020-50 50 50 ได้ตลอดเวลา ฟรี " * 12).strip()
    parts = split_message(thai, max_segments=1)
    assert len(parts) > 1
    assert all(segment_info(p).encoding == "UCS-2" and segment_info(p).segments == 1 for p in parts)
    assert " ".join(parts).split() == thai.split()
    assert all(p.count("020-50 50 50") == p.count("020-") for p in parts)


def test_the_segments_per_turn_are_capped_but_the_first_message_always_goes():
    assert len(plan_messages(["a" * 400, "b" * 400, "c" * 400], max_segments_per_turn=6)) == 2
    assert len(plan_messages(["x" * 2000], max_segments_per_turn=1)) == 1


def test_when_the_database_is_down_the_sms_still_gets_112(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path}")  # a directory: every connection fails
    app = create_app(settings, rasa=FakeRasa().client(), start_outbox_worker=False)
    with TestClient(app) as client:
        [reply] = texts(post_signed(client, inbound_params(NUMBER, "", "vad är betänketid")))
        danger = texts(post_signed(client, inbound_params(NUMBER, "", "hjälp, han slår mig")))
    # Not kept, and it says so (with 112); words of danger get the emergency text first.
    catalog = app.state.turn_context.catalog
    assert reply == catalog.render("utter_unavailable_unsaved", "en", "sms")
    assert "112" in reply and "not be kept" in reply
    assert danger == [catalog.render("utter_emergency", "en", "sms"), reply]


def test_danger_is_never_rate_limited(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url, rate_limit_per_sender=1), rasa=rasa.client(),
                     start_outbox_worker=False)
    with TestClient(app) as client:
        post_signed(client, inbound_params(NUMBER, "", "hej"))
        post_signed(client, inbound_params(NUMBER, "", "hej igen"))  # the one notice
        replies = texts(post_signed(client, inbound_params(NUMBER, "", "hjälp mig, han slår mig")))
    assert replies and "112" in replies[0]


def test_a_coordinator_acknowledges_a_page_by_sms(env):
    from gateway.escalation.models import Escalation, Region, StaffUser
    from gateway.escalation.service import request_escalation

    client, db, app = env
    pager = "+46701112233"
    vault = app.state.sms.vault
    with db.session() as s:
        s.add(Region(code="vast", name="Väst"))
        s.add(StaffUser(username="anna", name="Anna", role="coordinator", region_code="vast",
                        pager_encrypted=vault.encrypt(pager), pager_hash=vault.sender_hash(pager)))
        s.flush()
        ref = request_escalation(s, conversation_id=None, region_code="vast", urgency="normal",
                                 reason="request_human", may_contact=False, now=utcnow()).reference
        s.scalar(sa.select(Escalation)).state = "notified"
    [reply] = texts(post_signed(client, inbound_params(pager, "", f"ACK {ref}")))
    assert "acknowledged" in reply
    with db.session() as s:
        assert s.scalar(sa.select(Escalation.state)) == "acknowledged"
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0


@contextmanager
def limited_line(sqlite_url, rasa, **limits):
    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url, **limits), rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app) as client:
        yield client


def test_an_over_limit_sender_can_still_delete_stop_and_ask_for_help(sqlite_url, rasa):
    from translations.catalog import Catalog

    with limited_line(sqlite_url, rasa, rate_limit_per_sender=2) as client:
        for i in range(4):
            post_signed(client, inbound_params(NUMBER, "", f"fråga {i}"))
        help_reply = texts(post_signed(client, inbound_params(NUMBER, "", "HELP")))
        language_reply = texts(post_signed(client, inbound_params(NUMBER, "", "språk")))
        deleted = texts(post_signed(client, inbound_params(NUMBER, "", "RADERA")))
        stop_reply = texts(post_signed(client, inbound_params(NUMBER, "", "STOP")))
    assert help_reply and "112" in help_reply[0]
    assert language_reply and "Svenska" in language_reply[0]
    assert deleted == [Catalog.load().render("utter_conversation_deleted", "en", "sms")]
    with Database(sqlite_url).session() as s:
        inbound = s.scalars(sa.select(Message.text).where(Message.direction == "inbound")).all()
        opted_out = s.scalar(sa.select(Conversation.is_opted_out))
    assert "fråga 0" not in inbound  # DELETE reached the conversation despite the limit
    assert stop_reply and opted_out is True


def test_delete_does_not_reset_a_flooding_senders_limit(sqlite_url, rasa):
    with limited_line(sqlite_url, rasa, rate_limit_per_sender=3) as client:
        for i in range(3):
            post_signed(client, inbound_params(NUMBER, "", f"fråga {i}"))
        post_signed(client, inbound_params(NUMBER, "", "DELETE"))
        after = texts(post_signed(client, inbound_params(NUMBER, "", "fråga igen")))
    assert after and "wait a few minutes" in after[0]
    assert len(rasa.received) == 3


def test_a_few_flooding_senders_cannot_silence_the_line(sqlite_url, rasa):
    floods = ["+46700000001", "+46700000002"]
    with limited_line(sqlite_url, rasa, rate_limit_per_sender=3, rate_limit_global=3) as client:
        for number in floods:
            for i in range(20):
                post_signed(client, inbound_params(number, "", f"spam {i}"))
        newcomer = texts(post_signed(client, inbound_params("+46700000003", "", "vad är betänketid")))
        fourth = texts(post_signed(client, inbound_params("+46700000004", "", "vad är betänketid")))
        again = texts(post_signed(client, inbound_params("+46700000003", "", "och sen?")))
    assert newcomer == ["text of utter_reflection_period"]  # 2 flooders count as 2 senders
    assert "wait a few minutes" in fourth[0]  # the line's cap: 3 different senders
    assert again == ["text of utter_reflection_period"]  # an answered sender is not held back


def test_more_sends_the_full_answer_all_of_it_and_again_on_a_second_more(env, rasa):
    client, db, app = env
    catalog = app.state.turn_context.catalog
    post_signed(client, inbound_params(NUMBER, "", "vad är betänketid"))
    with db.session() as s:
        lang = s.scalar(sa.select(Conversation.language)) or "en"
    full = split_message(catalog.render("utter_reflection_period", lang, "web"))
    first = texts(post_signed(client, inbound_params(NUMBER, "", "MORE")))
    assert first == full and len(full) >= 1
    again = texts(post_signed(client, inbound_params(NUMBER, "", "mer")))
    assert again == full  # the second MORE repeats the answer, not "nothing before"
    assert len(rasa.received) == 1  # MORE is no turn
    with db.session() as s:
        names = s.scalars(sa.select(Message.response_name).where(
            Message.direction == "outbound").order_by(Message.id)).all()
        inbound = s.scalars(sa.select(Message.text).where(Message.direction == "inbound")).all()
    assert names == ["utter_reflection_period"] * (1 + 2 * len(full))
    assert inbound == ["vad är betänketid", "MORE", "mer"]


def test_more_is_not_cut_by_the_per_turn_segment_cap(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url, sms_max_segments_per_turn=1), rasa=rasa.client(),
                     start_outbox_worker=False)
    with TestClient(app) as client:
        post_signed(client, inbound_params(NUMBER, "", "vad är betänketid"))
        parts = texts(post_signed(client, inbound_params(NUMBER, "", "MORE")))
    full = app.state.turn_context.catalog.render("utter_reflection_period", "en", "web")
    assert sum(segment_info(p).segments for p in parts) > 1
    assert " ".join(parts).split() == full.split()


def test_more_fills_the_retention_period_of_this_deployment(sqlite_url):
    upgrade_database(sqlite_url)
    app = create_app(make_settings(sqlite_url, retention_days=17),
                     rasa=FakeRasa(reply="utter_privacy").client(), start_outbox_worker=False)
    with TestClient(app) as client:
        post_signed(client, inbound_params(NUMBER, "", "what do you keep"))
        parts = texts(post_signed(client, inbound_params(NUMBER, "", "more")))
    assert "17" in " ".join(parts)


def test_more_with_nothing_before_it_gets_the_help_text(env, rasa):
    client, _, app = env
    [reply] = texts(post_signed(client, inbound_params(NUMBER, "", "MORE")))
    assert reply == app.state.turn_context.catalog.render("utter_sms_help", "en", "sms")
    assert "112" in reply and rasa.received == []


def test_a_blocked_sender_is_told_so_with_112_and_delete_not_the_emergency_text(env, rasa):
    from gateway.abuse import blocks

    client, db, app = env
    with db.session() as s:
        blocks.create_block(s, blocks.BlockRequest(
            "sms_sender", app.state.sms.vault.sender_hash(NUMBER), 24, "flooding"),
            actor_id=1, now=utcnow(), max_days=92)
    [reply] = texts(post_signed(client, inbound_params(NUMBER, "", "hej")))
    assert reply == app.state.turn_context.catalog.render("utter_blocked", "en", "sms")
    assert "112" in reply and "DELETE" in reply
    assert texts(post_signed(client, inbound_params(NUMBER, "", "hej igen"))) == []  # once a day
    assert rasa.received == []
