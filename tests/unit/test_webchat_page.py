"""The web chat page (/?lang=xx): language menu, server-rendered chat that works without
JavaScript, delete, the DELETE and polling API the script uses, privacy headers, page weight."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.conversations import service
from gateway.db import Database, upgrade_database
from gateway.models import Conversation, Message
from gateway.webchat.schemas import MAX_MESSAGE_CHARS
from translations.catalog import Catalog
from translations.languages import CORE_LANGUAGES
from tests.unit.fakes import FakeRasa

API = "/api/webchat/messages"
PAGE_BUDGET_BYTES = 60 * 1024
CATALOG = Catalog.load()


def ui(name: str, lang: str) -> str:
    return CATALOG.render(name, lang, "web")


class HookedRasa(FakeRasa):
    """A fake Rasa that can do something (store a coordinator's message) while it 'thinks'."""

    during_send = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/webhook") and self.during_send:
            self.during_send()
        return super().handler(request)


@pytest.fixture
def rasa() -> HookedRasa:
    return HookedRasa()


def make_client(sqlite_url: str, rasa: FakeRasa, migrate: bool = True, **settings) -> TestClient:
    if migrate:
        upgrade_database(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, environment="test", **settings),
                     rasa=rasa.client(), start_outbox_worker=False)
    return TestClient(app)


@pytest.fixture
def env(sqlite_url, rasa):
    with make_client(sqlite_url, rasa) as client:
        yield client, Database(sqlite_url)


def hidden(page: str, name: str) -> str:
    match = re.search(rf'<form id="composer".*?name="{name}" value="([^"]*)"', page, re.S)
    assert match, f"no hidden {name}"
    return unescape(match.group(1))


def log_items(page: str) -> list[tuple[str, str]]:
    """(kind, text) of every message in #log."""
    log = re.search(r'<ol id="log"[^>]*>(.*?)</ol>', page, re.S).group(1)
    return [(kind, unescape(text)) for kind, text in re.findall(
        r'<li[^>]*data-kind="([a-z]+)"[^>]*>.*?<span class="text"[^>]*>(.*?)</span></li>', log, re.S)]


def stored(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(m.direction, m.text) for m in s.scalars(sa.select(Message).order_by(Message.id))]


def conversations(db: Database) -> list[Conversation]:
    with db.session() as s:
        return list(s.scalars(sa.select(Conversation)))


def add_outbound(db: Database, conv: str, text: str, response: str, mt: bool = False) -> int:
    with db.session() as s:
        return service.record_message(s, service.get_conversation(s, conv), direction="outbound",
                                      text=text, language="ro", response_name=response,
                                      is_machine_translated=mt).id


def post_form(client: TestClient, **fields: str):
    data = {"conversation_id": "", "lang": "ro", "src": "", "after": "0", "text": "", **fields}
    return client.post("/chat", data=data)


# --- language menu and the page in a language ------------------------------------------------

def test_the_menu_lists_every_language_by_its_own_name_with_links_that_keep_the_source(env):
    client, _ = env
    page = client.get("/", params={"src": "team-north"})
    assert page.status_code == 200
    assert '<html lang="en"' in page.text
    for code, endonym in CORE_LANGUAGES.items():
        assert (f'<a href="/?lang={code}&amp;src=team-north" lang="{code}" hreflang="{code}"'
                in page.text), code
        assert f">{endonym}</a>" in page.text, endonym
    for endonym in ("Română", "Polski", "العربية", "ไทย", "中文"):
        assert endonym in page.text
    assert 'id="quick-exit"' in page.text
    assert 'id="log"' not in page.text  # a menu, not a chat


def test_the_menu_without_a_source_links_to_the_language_alone(env):
    client, _ = env
    assert '<a href="/?lang=pl" lang="pl"' in client.get("/").text


@pytest.mark.parametrize("query", [{"lang": "xx"}, {"lang": "<script>"}, {"lang": ""}, {}])
def test_an_unknown_language_gets_the_menu(env, query):
    client, _ = env
    page = client.get("/", params=query)
    assert page.status_code == 200
    assert 'class="languages"' in page.text
    assert "<script>" not in page.text


def test_the_chat_page_is_in_the_language_asked_for(env):
    client, _ = env
    page = client.get("/", params={"lang": "ro", "src": "team-north"}).text
    assert '<html lang="ro" dir="ltr"' in page
    assert f"<title>{ui('ui_title', 'ro')}</title>" in page
    for name in ("ui_send", "ui_message_label", "ui_quick_exit", "ui_delete", "ui_language"):
        assert ui(name, "ro") in page, name
    assert 'href="tel:112"' in page
    assert hidden(page, "lang") == "ro"
    assert hidden(page, "src") == "team-north"
    assert hidden(page, "conversation_id") == ""
    assert '<a id="language" href="/?src=team-north">' in page


def test_arabic_is_right_to_left(env):
    client, _ = env
    page = client.get("/", params={"lang": "ar"}).text
    assert '<html lang="ar" dir="rtl"' in page
    assert ui("ui_send", "ar") in page


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_every_language_renders_its_own_words(env, lang):
    client, _ = env
    page = client.get("/", params={"lang": lang}).text
    assert f'<html lang="{lang}"' in page
    assert f">{ui('ui_send', lang)}</button>" in page


def test_a_deployment_serving_only_reviewed_languages_offers_only_those(rasa, sqlite_url):
    with make_client(sqlite_url, rasa, reviewed_languages_only=True) as client:
        menu = client.get("/").text
        chat = client.get("/", params={"lang": "ro"}).text
    reviewed = [c for c, info in CATALOG.languages.items() if info.status == "reviewed"]
    offered = re.findall(r'<a href="/\?lang=([a-z]+)"', menu)
    assert offered == ([c for c in CORE_LANGUAGES if c in reviewed] or ["en"])
    if "ro" not in reviewed:
        assert 'class="languages"' in chat  # not offered: the menu instead


def test_opening_the_form_address_starts_over(env):
    client, _ = env
    resp = client.get("/chat", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_a_damaged_source_is_dropped_not_an_error(env):
    client, _ = env
    page = client.get("/", params={"lang": "ro", "src": '"><script>x</script>'}).text
    assert hidden(page, "src") == ""
    assert "<script>x" not in page


# --- without JavaScript: plain form posts ---------------------------------------------------

def test_two_turns_without_javascript_show_the_whole_conversation(env, rasa):
    client, db = env
    first = post_form(client, text="salut", src="team-north")
    assert first.status_code == 200
    conv = hidden(first.text, "conversation_id")
    assert len(conv) >= 32
    assert hidden(first.text, "lang") == "ro" and hidden(first.text, "src") == "team-north"
    assert log_items(first.text) == [("user", "salut"), ("bot", "text of utter_greet")]
    assert rasa.received[0]["metadata"]["language"] == "ro"
    assert rasa.received[0]["metadata"]["channel"] == "webchat"

    second = post_form(client, text="ce drepturi am?", conversation_id=conv,
                       after=hidden(first.text, "after"))
    assert second.status_code == 200
    assert hidden(second.text, "conversation_id") == conv
    assert log_items(second.text) == [("user", "salut"), ("bot", "text of utter_greet"),
                                      ("user", "ce drepturi am?"), ("bot", "text of utter_greet")]
    assert [r["sender"] for r in rasa.received] == [conv, conv]
    assert len(conversations(db)) == 1
    # The newest part of the conversation is where the form's #new anchor lands.
    assert re.search(r'<li id="new"[^>]*data-kind="user"[^>]*>.*?ce drepturi am\?', second.text)
    assert 'action="/chat#new"' in second.text


def form_of(page: str, text: str) -> dict[str, str]:
    """What sending the composer form of `page` with `text` posts."""
    return {"text": text, **{name: hidden(page, name) for name in
                             ("conversation_id", "lang", "src", "after", "client_message_id")}}


def test_every_page_carries_a_new_id_for_the_next_message(env):
    client, _ = env
    ids = {hidden(client.get("/?lang=ro").text, "client_message_id") for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    assert 'name="client_message_id"' not in client.get("/?lang=ro").text.split(
        'id="delete-form"')[1]


def test_the_same_form_sent_twice_takes_one_turn(env, rasa):
    client, db = env
    start = client.get("/?lang=ro").text
    first = client.post("/chat", data=form_of(start, "salut"))
    again = client.post("/chat", data=form_of(start, "salut"))  # a reload after sending
    assert first.status_code == again.status_code == 200
    assert len(rasa.received) == 1 and len(conversations(db)) == 1
    conv = hidden(first.text, "conversation_id")
    assert hidden(again.text, "conversation_id") == conv
    assert log_items(again.text) == log_items(first.text)
    assert hidden(again.text, "client_message_id") != hidden(first.text, "client_message_id")

    for _ in range(2):  # a double tap
        page = client.post("/chat", data=form_of(first.text, "ce drepturi am?"))
        assert page.status_code == 200
    assert len(rasa.received) == 2
    assert [t for d, t in stored(db) if d == "inbound"] == ["salut", "ce drepturi am?"]
    assert log_items(page.text)[-2:] == [("user", "ce drepturi am?"),
                                         ("bot", "text of utter_greet")]


def test_the_same_text_sent_again_from_the_next_page_is_a_new_message(env, rasa):
    client, db = env
    first = post_form(client, text="da")
    second = client.post("/chat", data=form_of(first.text, "da"))
    client.post("/chat", data=form_of(second.text, "da"))
    assert len(rasa.received) == 3
    assert [t for d, t in stored(db) if d == "inbound"] == ["da", "da", "da"]


def test_an_old_page_written_in_again_takes_the_new_text_once(env, rasa):
    client, db = env
    start = client.get("/?lang=ro").text
    client.post("/chat", data=form_of(start, "salut"))
    for _ in range(2):  # back to the first page (the browser kept it), another text, sent twice
        page = client.post("/chat", data=form_of(start, "altceva"))
        assert page.status_code == 200
    assert len(rasa.received) == 2
    assert [t for d, t in stored(db) if d == "inbound"] == ["salut", "altceva"]
    assert len(conversations(db)) == 2  # the old page had no conversation yet


def test_the_same_form_sent_twice_at_once_takes_one_turn(sqlite_url, rasa, monkeypatch):
    import threading

    from gateway.webchat import page as page_module

    barrier = threading.Barrier(2)
    lock = threading.Lock()
    looks = {"armed": False, "held": 0}
    real_find = page_module.find_original

    def find_then_wait(s, client_message_id):  # noqa: ANN001, ANN202
        found = real_find(s, client_message_id)
        with lock:
            hold = looks["armed"] and looks["held"] < 2
            looks["held"] += hold
        if hold:
            barrier.wait(timeout=30)
        return found

    monkeypatch.setattr(page_module, "find_original", find_then_wait)
    with make_client(sqlite_url, rasa) as client:
        first = post_form(client, text="salut")
        form = form_of(first.text, "ajutor")
        looks["armed"] = True
        pages: list = []
        threads = [threading.Thread(target=lambda: pages.append(client.post("/chat", data=form)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert [p.status_code for p in pages] == [200, 200]
    assert len(rasa.received) == 2
    assert [t for d, t in stored(Database(sqlite_url)) if d == "inbound"] == ["salut", "ajutor"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "ui_error_empty"), ("  \n\t ", "ui_error_empty"),
    ("x" * (MAX_MESSAGE_CHARS + 1), "ui_error_too_long"),
])
def test_invalid_text_is_refused_with_a_clear_message_in_the_persons_language(env, rasa, text, message):
    client, db = env
    page = post_form(client, text=text)
    assert page.status_code == 422
    assert ui(message, "ro") in page.text
    assert 'aria-invalid="true"' in page.text
    assert rasa.received == [] and stored(db) == []
    if text.strip():
        assert f">{text}</textarea>" in page.text  # nothing typed is lost


def test_the_too_long_message_names_the_limit_in_every_language():
    for lang in CORE_LANGUAGES:
        assert str(MAX_MESSAGE_CHARS) in ui("ui_error_too_long", lang), lang


def test_an_invalid_message_keeps_the_conversation_on_the_page(env):
    client, _ = env
    first = post_form(client, text="salut")
    conv = hidden(first.text, "conversation_id")
    page = post_form(client, text="", conversation_id=conv)
    assert hidden(page.text, "conversation_id") == conv
    assert ("user", "salut") in log_items(page.text)


def test_an_unknown_conversation_says_so_and_keeps_the_text(env, rasa):
    client, _ = env
    page = post_form(client, text="mai e cineva?", conversation_id="A" * 32)
    assert page.status_code == 404
    assert ui("ui_error_gone", "ro") in page.text
    assert ">mai e cineva?</textarea>" in page.text
    assert hidden(page.text, "conversation_id") == ""
    assert rasa.received == []


def test_a_tampered_conversation_id_is_not_used(env, rasa):
    client, db = env
    page = post_form(client, text="salut", conversation_id="../../etc/passwd")
    assert page.status_code == 200
    assert len(conversations(db)) == 1  # a new conversation was opened instead


def test_check_for_new_messages_shows_a_coordinators_reply(env):
    client, db = env
    first = post_form(client, text="salut")
    conv = hidden(first.text, "conversation_id")
    add_outbound(db, conv, "Un coordonator regional a văzut cererea ta.", "utter_handoff_acknowledged")
    add_outbound(db, conv, "Bună, sunt Anna.", "coordinator_reply", mt=True)
    page = post_form(client, action="refresh", conversation_id=conv, after=hidden(first.text, "after"))
    assert page.status_code == 200
    assert log_items(page.text)[-2:] == [
        ("status", "Un coordonator regional a văzut cererea ta."),
        ("coordinator", "Bună, sunt Anna.")]
    assert f'<span class="who">{ui("ui_status_joined", "ro")}</span>' in page.text
    assert f'<span class="who">{ui("ui_coordinator", "ro")}</span>' in page.text
    assert f'<span class="mt">{ui("ui_machine_translated", "ro")}</span>' in page.text
    assert re.search(r'<li [^>]*data-kind="coordinator"[^>]*data-machine-translated="true"', page.text)


def test_delete_without_javascript_erases_everything_and_says_so(env, rasa):
    client, db = env
    first = post_form(client, text="salut")
    conv = hidden(first.text, "conversation_id")
    page = post_form(client, action="delete", conversation_id=conv)
    assert page.status_code == 200
    assert ui("ui_deleted", "ro") in page.text
    assert log_items(page.text) == [("bot", ui("utter_conversation_deleted", "ro"))]
    assert hidden(page.text, "conversation_id") == ""
    assert stored(db) == [] and conversations(db) == []
    assert rasa.erased == [conv]


def test_the_delete_keyword_in_the_form_erases_too(env, rasa):
    client, db = env
    conv = hidden(post_form(client, text="salut").text, "conversation_id")
    page = post_form(client, text="STERGE", conversation_id=conv)
    assert hidden(page.text, "conversation_id") == ""
    assert ui("ui_deleted", "ro") in page.text
    assert stored(db) == []


def test_what_people_write_is_escaped(env):
    client, _ = env
    page = post_form(client, text='<script>alert("x")</script>').text
    assert '<script>alert' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_when_the_database_is_down_the_page_says_not_sent_and_shows_112(rasa, tmp_path):
    with make_client(f"sqlite:///{tmp_path}", rasa, migrate=False) as client:  # a directory: every connection fails
        page = post_form(client, text="ajutor")
    assert page.status_code == 503
    assert ui("ui_not_sent", "ro") in page.text
    assert 'href="tel:112"' in page.text
    assert ">ajutor</textarea>" in page.text


# --- the API the script uses ---------------------------------------------------------------

def test_delete_api_erases_the_conversation_and_says_so_in_its_language(env, rasa):
    client, db = env
    conv = client.post(API, json={"text": "salut", "language": "ro"}).json()["conversation_id"]
    resp = client.delete(f"/api/webchat/conversations/{conv}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["conversation_id"] is None and body["language"] == "ro"
    assert [m["response"] for m in body["messages"]] == ["utter_conversation_deleted"]
    assert body["messages"][0]["text"] == ui("utter_conversation_deleted", "ro")
    assert stored(db) == [] and rasa.erased == [conv]
    assert client.delete(f"/api/webchat/conversations/{conv}").status_code == 404
    assert client.get(f"/api/webchat/conversations/{conv}/messages").status_code == 404
    assert client.delete("/api/webchat/conversations/not..valid").status_code in (404, 422)
    assert client.delete(f"/api/webchat/conversations/{'A' * 32}").status_code == 404


def test_every_message_says_what_kind_it_is(env):
    client, db = env
    reply = client.post(API, json={"text": "salut", "language": "ro"}).json()
    conv = reply["conversation_id"]
    assert [m["kind"] for m in reply["messages"]] == ["bot"]
    add_outbound(db, conv, "seen", "utter_handoff_acknowledged")
    add_outbound(db, conv, "hej", "coordinator_reply")
    add_outbound(db, conv, "back", "utter_handoff_closed")
    later = client.get(f"/api/webchat/conversations/{conv}/messages").json()["messages"]
    assert [(m["response"], m["kind"]) for m in later] == [
        ("utter_greet", "bot"), ("utter_handoff_acknowledged", "status"),
        ("coordinator_reply", "coordinator"), ("utter_handoff_closed", "status")]


def test_the_reply_carries_the_ids_the_poll_will_report(env):
    """The page dedupes by id: a reply must carry the id under which polling returns it."""
    client, _ = env
    reply = client.post(API, json={"text": "salut", "language": "ro"}).json()
    polled = client.get(f"/api/webchat/conversations/{reply['conversation_id']}/messages").json()
    assert [m["id"] for m in reply["messages"]] == [m["id"] for m in polled["messages"]]
    assert all(isinstance(m["id"], int) for m in reply["messages"])


def test_a_message_stored_during_the_turn_keeps_its_own_id(env, rasa):
    """A coordinator's message stored while Rasa thinks must not be taken for the bot's reply
    (the page would then never show one of them)."""
    client, db = env
    conv = client.post(API, json={"text": "salut", "language": "ro"}).json()["conversation_id"]
    coordinator_ids = []
    rasa.during_send = lambda: coordinator_ids.append(add_outbound(db, conv, "hej", "coordinator_reply"))
    reply = client.post(API, json={"text": "și acum?", "conversation_id": conv}).json()
    polled = client.get(f"/api/webchat/conversations/{conv}/messages").json()["messages"]
    by_id = {m["id"]: m for m in polled}
    [bot] = reply["messages"]
    assert bot["id"] not in coordinator_ids
    assert by_id[bot["id"]]["response"] == bot["response"] and by_id[bot["id"]]["kind"] == "bot"
    assert by_id[coordinator_ids[0]]["kind"] == "coordinator"


def test_replies_that_could_not_be_looked_up_have_no_id(env, rasa):
    client, _ = env
    body = client.post(API, json={"text": "STERGE"}).json()  # nothing stored: erased
    assert body["conversation_id"] is None
    assert [m["id"] for m in body["messages"]] == [None]


# --- privacy, safety and weight -------------------------------------------------------------

def every_person_facing_response(client: TestClient) -> list[httpx.Response]:
    first = post_form(client, text="salut")
    conv = hidden(first.text, "conversation_id")
    return [
        client.get("/"), client.get("/", params={"lang": "ro", "src": "team-north"}),
        client.get("/", params={"lang": "ar"}), first,
        post_form(client, text="", conversation_id=conv),
        post_form(client, action="refresh", conversation_id=conv),
        client.get(f"/api/webchat/conversations/{conv}/messages"),
        post_form(client, action="delete", conversation_id=conv),
        client.get("/static/chat.css"), client.get("/static/chat.js"),
        client.post(API, json={"text": "salut"}),
    ]


def test_security_headers_on_every_page_and_never_a_cookie(env):
    client, _ = env
    for resp in every_person_facing_response(client):
        where = f"{resp.request.method} {resp.request.url}"
        assert "set-cookie" not in resp.headers, where
        assert resp.headers["cache-control"] == "no-store", where
        assert resp.headers["referrer-policy"] == "no-referrer", where
        csp = dict(part.strip().split(" ", 1) for part in resp.headers["content-security-policy"].split(";"))
        assert csp["script-src"] == "'self'", where
        assert csp["style-src"] == "'self'", where
        assert csp["font-src"] == "'none'", where
        assert "unsafe-inline" not in resp.headers["content-security-policy"], where
    assert not client.cookies


def test_no_inline_script_or_style_and_no_web_font(env):
    client, _ = env
    for resp in every_person_facing_response(client):
        if "text/html" not in resp.headers["content-type"]:
            continue
        page = resp.text
        assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/static/chat.js" defer>']
        assert "</script>" in page and re.search(r"<script[^>]*>\s*\S+\s*</script>", page) is None
        assert "<style" not in page and " style=" not in page
        assert re.search(r"\son[a-z]+=", page) is None  # no inline event handlers
    css = client.get("/static/chat.css").text
    assert "@font-face" not in css and "@import" not in css and "url(" not in css


def test_nothing_from_another_site_but_the_configured_exit(rasa, sqlite_url):
    exit_url = "https://example.org/weather?x=1"
    with make_client(sqlite_url, rasa, quick_exit_url=exit_url) as client:
        pages = every_person_facing_response(client)
        chat = client.get("/", params={"lang": "ro"}).text
    assert f'<a id="quick-exit" href="{exit_url.replace("&", "&amp;")}" data-exit-url=' in chat
    assert 'rel="noreferrer"' in chat
    for resp in pages:
        outside = unescape(resp.text).replace(exit_url, "")
        assert re.search(r"https?://", outside) is None, resp.request.url


def test_the_quick_exit_setting_must_be_a_web_address():
    with pytest.raises(ValueError):
        Settings(quick_exit_url="javascript:alert(1)")
    assert Settings().quick_exit_url == "https://www.smhi.se/"


def test_the_script_keeps_nothing_on_the_phone(env):
    client, _ = env
    js = client.get("/static/chat.js").text
    assert "localStorage" not in js and "document.cookie" not in js and "indexedDB" not in js
    assert "sessionStorage.setItem" not in js and "sessionStorage.clear()" in js
    assert "location.replace(" in js and 'replaceState(null, "", "/")' in js
    assert "fetch(" not in js and "=>" not in js and "const " not in js and "let " not in js  # ES5


def test_the_page_stays_within_its_weight_budget(env):
    client, _ = env
    html = client.get("/", params={"lang": "ro", "src": "team-north"}).content
    css = client.get("/static/chat.css").content
    js = client.get("/static/chat.js").content
    total = len(html) + len(css) + len(js)
    print(f"page weight: html {len(html)} + css {len(css)} + js {len(js)} = {total} bytes")
    assert total < PAGE_BUDGET_BYTES, total
