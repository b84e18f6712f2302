"""The coordinator console in real headless Chromium (Debian's package, driven by Playwright),
against the real line (issue 13, "How to know", in part).

Two requests come in through the real web chat and the bot's handoff questions (as in
test_handoff_e2e): an ordinary Polish one and, after it, a danger one (112 first). A Väst
coordinator signs in with a password and a TOTP code, at a phone's 390x844 and a laptop's
1366x900: the danger request is listed first, and on its page the actions come before the
conversation. At 320 px no console page scrolls sideways (WCAG 1.4.10); axe finds no serious or
critical violation; a new request shows in an open queue without a reload. Screenshots go to
docs/. Every request a page makes to a host other than the gateway is refused and fails the
test.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.escalation.models import Escalation, StaffUser
from gateway.escalation.passwords import hash_password
from tests.e2e.conftest import AXE_JS, PASSWORD, Requests, console_code
from tests.e2e.test_handoff_e2e import turn
from tests.e2e.test_webchat_e2e import say
from tests.support.console_signin import enrol

DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
LAPTOP = {"viewport": {"width": 1366, "height": 900}}
NARROW = {"viewport": {"width": 320, "height": 640}, "is_mobile": True, "has_touch": True}
ADMIN, ADMIN_PASSWORD = "sara-admin-e2e", "admin horse battery e2e"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def admin(stack, db) -> str:
    with db.session() as s:
        sara = StaffUser(username=ADMIN, name="Sara", role="admin", region_code=None,
                         password_hash=hash_password(ADMIN_PASSWORD))
        s.add(sara)
        s.flush()
        enrol(s, sara.id, stack.settings.encryption_key.get_secret_value())
    return ADMIN


def _escalation_of(db, conversation_id: str) -> tuple[int, str, str]:  # noqa: ANN001
    with db.session() as s:
        esc = s.scalar(sa.select(Escalation).where(Escalation.conversation_id == conversation_id))
        return esc.id, esc.reference, esc.urgency


@pytest.fixture(scope="module")
def two_requests(gateway, db, vast_on_call) -> dict[str, tuple[int, str]]:
    """An ordinary request, then a danger one, both to Väst, through the bot's questions."""
    conv, said = turn(gateway, "chcę porozmawiać z człowiekiem", language="pl")
    assert said == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "tak", conv)[1] == ["utter_ask_handoff_may_contact"]
    assert turn(gateway, "tak", conv)[1] == ["utter_ask_handoff_place"]
    assert turn(gateway, "Göteborg", conv)[1] == ["utter_handoff_paged"]
    ordinary = _escalation_of(db, conv)
    conv, said = turn(gateway, "help me, he is hitting me", language="en")
    assert said == ["utter_emergency", "utter_emergency_offer_handoff"]
    assert turn(gateway, "yes", conv)[1] == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "yes", conv)[1] == ["utter_ask_handoff_may_contact"]
    assert turn(gateway, "yes", conv)[1] == ["utter_ask_handoff_place"]
    turn(gateway, "Göteborg", conv)
    danger = _escalation_of(db, conv)
    assert (ordinary[2], danger[2]) == ("normal", "danger")
    return {"ordinary": ordinary[:2], "danger": danger[:2]}


@pytest.fixture
def console(browser, stack):
    """Opens browser contexts (the page's own strict CSP kept unless asked otherwise) whose
    requests to any host but the gateway are refused; checks that at the end."""
    opened = []

    def open_page(options: dict, *, bypass_csp: bool = False):
        context = browser.new_context(bypass_csp=bypass_csp, **options)
        requests = Requests(stack.settings.gateway_url)
        context.route("**/*", requests.handle)
        opened.append((context, requests))
        return context.new_page()

    yield open_page
    for context, requests in opened:
        context.close()
        assert requests.all, "the interception saw no request: the check proves nothing"
        assert requests.foreign == [], f"requests to other hosts: {requests.foreign}"


def sign_in(page, stack, username: str = "anna-e2e", password: str = PASSWORD) -> None:  # noqa: ANN001
    base = stack.settings.gateway_url
    page.goto(base + "/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.fill("#code", console_code())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.rstrip("/") == base + "/console", page.url


def screenshot(page, name: str) -> None:  # noqa: ANN001
    DOCS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(DOCS / name), full_page=True)


def queue_rows(page) -> list[dict]:  # noqa: ANN001
    return page.evaluate(
        "() => [...document.querySelectorAll('#queue table.queue tbody tr')].map(tr => ({"
        " ref: tr.querySelector('a').textContent.trim(), cls: tr.className}))")


def axe_violations(page) -> list:  # noqa: ANN001
    """As test_browser_e2e: axe-core's WCAG 2.1 A/AA and best-practice rules."""
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        "async () => JSON.stringify(await axe.run(document, {runOnly: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}))")
    return [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:5])
            for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("device,options", [("phone", PHONE), ("laptop", LAPTOP)])
def test_danger_first_and_actions_before_the_conversation(console, stack, two_requests,
                                                          device, options):
    page = console(options)
    sign_in(page, stack)
    page.wait_for_selector("#queue table.queue")
    rows = queue_rows(page)
    refs = [r["ref"] for r in rows]
    danger_id, danger_ref = two_requests["danger"]
    ordinary_ref = two_requests["ordinary"][1]
    assert danger_ref in refs and ordinary_ref in refs, refs
    assert refs.index(danger_ref) < refs.index(ordinary_ref)
    # Every danger row above every ordinary one.
    kinds = [r["cls"] for r in rows]
    assert kinds == sorted(kinds, key=lambda c: c != "danger"), kinds
    screenshot(page, f"console-queue-{device}.png")

    with page.expect_navigation():
        page.click(f"#queue a:text-is('{danger_ref}')")
    page.wait_for_selector("#actions")
    assert danger_ref in page.title()
    order = page.evaluate(
        "() => { const a = document.querySelector('#actions'),"
        " c = document.querySelector('#conversation');"
        " return [Boolean(a.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING),"
        " a.getBoundingClientRect().top, c.getBoundingClientRect().top]; }")
    follows, actions_top, conversation_top = order
    assert follows and actions_top < conversation_top
    # The acknowledge button and the reply form are in the actions, on the first screen.
    ack = page.locator("#actions form.ack button")
    assert ack.count() == 1 and "Acknowledge" in ack.inner_text()
    assert page.locator("#actions textarea").count() >= 1
    assert ack.bounding_box()["y"] < options["viewport"]["height"]
    screenshot(page, f"console-request-{device}.png")


def test_no_sideways_scrolling_at_320_px(console, stack, two_requests, admin):
    page = console(NARROW)
    sign_in(page, stack, admin, ADMIN_PASSWORD)
    base = stack.settings.gateway_url
    danger_id = two_requests["danger"][0]
    widths = {}
    for path in ("/console", f"/console/escalations/{danger_id}", "/console/admin"):
        page.goto(base + path)
        page.wait_for_selector("main")
        widths[path] = page.evaluate(
            "() => [document.documentElement.scrollWidth, [...document.querySelectorAll('body *')]"
            ".filter(el => el.getBoundingClientRect().right > 320)"
            ".map(el => el.tagName + '.' + el.className + '#' + el.id).slice(0, 8)]")
    assert all(w <= 320 for w, _ in widths.values()), widths


def test_axe_finds_no_serious_or_critical_violation_in_the_console(console, stack,
                                                                   two_requests, admin):
    # bypass_csp only so the test can inject axe-core; the console runs no inline code.
    page = console(LAPTOP, bypass_csp=True)
    sign_in(page, stack, admin, ADMIN_PASSWORD)
    base = stack.settings.gateway_url
    found = {}
    for path in ("/console", f"/console/escalations/{two_requests['danger'][0]}",
                 "/console/admin"):
        page.goto(base + path)
        page.wait_for_selector("main")
        found[path] = axe_violations(page)
    assert all(v == [] for v in found.values()), found


def test_a_new_request_appears_in_the_open_queue_without_a_reload(console, stack, gateway,
                                                                  two_requests):
    page = console(LAPTOP)
    sign_in(page, stack)
    page.wait_for_selector("#queue")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("() => { window.__notReloaded = true; }")
    before = len(queue_rows(page))
    # A new request through the gateway's internal escalation API (as the action server does).
    conv = say(gateway, "I need a safe place to sleep", language="en")["conversation_id"]
    token = stack.settings.internal_token.get_secret_value()
    created = httpx.post(f"{stack.settings.gateway_url}/internal/escalations",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30,
                         json={"conversation_id": conv, "place": "Göteborg",
                               "may_contact": False})
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    page.wait_for_function(
        "ref => [...document.querySelectorAll('#queue table.queue tbody tr a')]"
        ".some(a => a.textContent.trim() === ref)", arg=reference, timeout=WAIT_MS)
    # The tab title carries the count of open requests (the rows shown).
    page.wait_for_function(
        "() => { const n = document.querySelectorAll('#queue table.queue tbody tr').length;"
        " return document.title.startsWith('(' + n + ') '); }", timeout=WAIT_MS)
    after = len(queue_rows(page))
    assert after == before + 1
    assert page.title().startswith(f"({after}) ")
    assert page.evaluate("() => window.__notReloaded === true")
    assert navigations == []
