"""Issue 11, item 3: the web chat's flood limits (per conversation, per client address, new
conversations per client), counted in the database so they hold across replicas; danger and
erasure always pass; a refusal says so in the person's language with 112; X-Forwarded-For is
believed only from a configured proxy; outreach counts and escalations cannot be pumped."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.abuse.clients import client_address, parse_networks
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.models import Message, WebchatArrival, utcnow
from gateway.outreach.models import OutreachDailyCount, OutreachSource
from tests.unit.fakes import FakeRasa
from translations.catalog import Catalog

URL = "/api/webchat/messages"
DANGER = "he will kill me now, help"


class Clock:
    """Starts at the real time (rows the turn writes carry it) and moves only when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def line(url: str, rasa: FakeRasa, clock: Clock, *, peer=("203.0.113.7", 5000), migrate=True,
         **limits):
    if migrate:
        upgrade_database(url)
    values = dict(webchat_rate_limit_per_conversation=3, webchat_rate_limit_per_client=100,
                  webchat_new_conversations_per_client=100)
    values.update(limits)
    app = create_app(Settings(database_url=url, environment="test", detect_language=False, **values),
                     rasa=rasa.client(), start_outbox_worker=False)
    app.state.abuse.clock = clock
    with TestClient(app, client=peer) as client:
        yield client


def stored_inbound(url: str) -> list[str]:
    with Database(url).session() as s:
        return s.scalars(sa.select(Message.text).where(Message.direction == "inbound")
                         .order_by(Message.id)).all()


def test_a_conversation_over_its_limit_is_told_in_its_language_and_nothing_is_lost_silently(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock) as client:
        conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
        for i in range(3):
            last = client.post(URL, json={"text": f"fråga {i}", "conversation_id": conv})
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) > 0
    body = last.json()
    assert body["language"] == "sv" and body["conversation_id"] == conv
    assert body["messages"][0]["text"] == Catalog.load().render("utter_rate_limited", "sv", "web")
    assert "112" in body["messages"][0]["text"] and "not sent" in body["detail"]
    assert len(rasa.received) == 3
    assert "fråga 2" not in stored_inbound(sqlite_url)  # not stored, and the person was told


def test_danger_keywords_and_erasure_always_pass_and_the_window_ends(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_rate_limit_per_conversation=2) as client:
        conv = client.post(URL, json={"text": "hello"}).json()["conversation_id"]
        assert client.post(URL, json={"text": "again", "conversation_id": conv}).status_code == 200
        assert client.post(URL, json={"text": "more", "conversation_id": conv}).status_code == 429
        danger = client.post(URL, json={"text": DANGER, "conversation_id": conv})
        menu = client.post(URL, json={"text": "language", "conversation_id": conv})
        clock.now += timedelta(minutes=11)
        later = client.post(URL, json={"text": "and now?", "conversation_id": conv})
        erased = client.delete(f"/api/webchat/conversations/{conv}")
    assert danger.status_code == 200
    assert danger.json()["messages"][0]["response"] == "utter_emergency"
    assert menu.status_code == 200 and menu.json()["messages"][0]["response"] == "utter_language_menu"
    assert later.status_code == 200
    assert erased.status_code == 200 and erased.json()["conversation_id"] is None


def test_the_delete_keyword_passes_a_limited_conversation(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_rate_limit_per_conversation=1) as client:
        conv = client.post(URL, json={"text": "hello"}).json()["conversation_id"]
        client.post(URL, json={"text": "again", "conversation_id": conv})
        gone = client.post(URL, json={"text": "DELETE", "conversation_id": conv})
    assert gone.status_code == 200 and gone.json()["conversation_id"] is None
    assert stored_inbound(sqlite_url) == []


def test_one_client_cannot_open_conversations_without_end(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_new_conversations_per_client=2) as client:
        codes = [client.post(URL, json={"text": f"hi {i}"}).status_code for i in range(4)]
        danger = client.post(URL, json={"text": DANGER})
    assert codes == [200, 200, 429, 429]
    assert danger.status_code == 200  # a new conversation in danger is always opened
    assert len(rasa.received) == 3


def test_the_per_client_limit_spans_its_conversations(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_rate_limit_per_client=4) as client:
        codes = []
        for _ in range(3):
            first = client.post(URL, json={"text": "hi"})
            codes.append(first.status_code)
            if first.status_code == 200:
                codes.append(client.post(URL, json={"text": "and?", "conversation_id":
                                                    first.json()["conversation_id"]}).status_code)
    assert codes == [200, 200, 200, 200, 429]


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    proxies = parse_networks(["10.0.0.0/8", "2001:db8::1"])
    assert client_address("198.51.100.9", "1.2.3.4", proxies) == "198.51.100.9"  # not our proxy
    assert client_address("10.0.0.2", "1.2.3.4", proxies) == "1.2.3.4"
    # What the client wrote itself is left of what our proxies appended: never believed.
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.9", proxies) == "1.2.3.4"
    assert client_address("2001:db8::1", "[2001:db8::5]:443", proxies) == "2001:db8::5"
    assert client_address("10.0.0.2", None, proxies) == "10.0.0.2"
    assert client_address("198.51.100.9", "1.2.3.4", ()) == "198.51.100.9"  # the default: none


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, peer=("10.0.0.2", 4000), trusted_proxies=["10.0.0.0/8"],
              webchat_new_conversations_per_client=1) as client:
        a1 = client.post(URL, json={"text": "hi"}, headers={"X-Forwarded-For": "192.0.2.1"})
        a2 = client.post(URL, json={"text": "hi"}, headers={"X-Forwarded-For": "192.0.2.1"})
        spoofed = client.post(URL, json={"text": "hi"},
                              headers={"X-Forwarded-For": "192.0.2.77, 192.0.2.1"})
        b1 = client.post(URL, json={"text": "hi"}, headers={"X-Forwarded-For": "192.0.2.2"})
    assert [a1.status_code, a2.status_code, spoofed.status_code, b1.status_code] == [200, 429, 429, 200]
    with Database(sqlite_url).session() as s:
        hashes = s.scalars(sa.select(WebchatArrival.key_hash)).all()
    assert hashes and all(len(h) == 64 and "192.0.2" not in h for h in hashes)


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_limit(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_new_conversations_per_client=1) as client:
        codes = [client.post(URL, json={"text": "hi"},
                             headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
                 for i in range(3)]
    assert codes == [200, 429, 429]


def test_the_page_without_javascript_is_limited_and_keeps_the_text(sqlite_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, webchat_new_conversations_per_client=1) as client:
        client.post("/chat", data={"text": "hej", "lang": "sv"})
        refused = client.post("/chat", data={"text": "mitt andra meddelande", "lang": "sv"})
    assert refused.status_code == 429
    notice = Catalog.load().render("utter_rate_limited", "sv", "web")
    assert notice.split("{")[0][:30] in refused.text.replace("&#x27;", "'")
    assert "mitt andra meddelande</textarea>" in refused.text


def test_the_limits_hold_across_two_replicas(postgres_url):
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(postgres_url, rasa, clock) as first, \
            line(postgres_url, rasa, clock, migrate=False) as second:
        conv = first.post(URL, json={"text": "hello"}).json()["conversation_id"]
        codes = [(first if i % 2 else second).post(
            URL, json={"text": f"m{i}", "conversation_id": conv}).status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]  # the opening message counts too


def test_one_client_cannot_pump_the_outreach_counts(sqlite_url):
    upgrade_database(sqlite_url)
    with Database(sqlite_url).session() as s:
        s.add(OutreachSource(code="team-syd", label="Team", active=True))
    rasa, clock = FakeRasa(), Clock(utcnow())
    with line(sqlite_url, rasa, clock, migrate=False, outreach_counts_per_client_per_day=2) as one:
        for _ in range(6):
            assert one.post(URL, json={"text": "hi", "source": "team-syd"}).status_code == 200
    with line(sqlite_url, rasa, clock, migrate=False, peer=("198.51.100.20", 1)) as other:
        other.post(URL, json={"text": "hi", "source": "team-syd"})
    with Database(sqlite_url).session() as s:
        assert s.scalar(sa.select(sa.func.sum(OutreachDailyCount.conversations))) == 3


class HandoffRasa(FakeRasa):
    """Like the action server after "yes, ask a coordinator": every turn asks the gateway's
    internal API for an escalation of this conversation."""

    client_app = None

    def handler(self, request):  # noqa: ANN001, ANN201
        import json

        if request.method == "POST" and request.url.path.endswith("/webhook"):
            from gateway.config import LOCAL_INTERNAL_TOKEN

            sender = json.loads(request.content)["sender"]
            resp = self.client_app.post(
                "/internal/escalations", headers={"Authorization": f"Bearer {LOCAL_INTERNAL_TOKEN}"},
                json={"conversation_id": sender, "place": "Göteborg", "may_contact": True})
            assert resp.status_code == 201, resp.text
        return super().handler(request)


def test_a_web_chat_asking_again_and_again_opens_one_request_and_pages_once(sqlite_url):
    from gateway.escalation.models import Escalation
    from gateway.escalation.regions import sync_regions
    from gateway.models import OutboxMessage

    upgrade_database(sqlite_url)
    with Database(sqlite_url).session() as s:
        sync_regions(s)
    rasa, clock = HandoffRasa(reply="utter_handoff_paged"), Clock(utcnow())
    with line(sqlite_url, rasa, clock, migrate=False, webchat_rate_limit_per_conversation=50,
              escalation_fallback_pager="+46701000009") as client:
        rasa.client_app = client
        conv = client.post(URL, json={"text": "I want a person"}).json()["conversation_id"]
        for _ in range(5):
            assert client.post(URL, json={"text": "a person please", "conversation_id": conv}
                               ).status_code == 200
    with Database(sqlite_url).session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1  # one page
