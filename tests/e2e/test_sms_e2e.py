"""SMS through the real Rasa: signed like Twilio, answered with TwiML in the SMS form."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gateway.sms.simulator import inbound_params, signed_post
from tests.e2e.conftest import TWILIO_TOKEN
from translations.catalog import Catalog
from translations.sms import segment_info


def sms(gateway, stack, sender: str, text: str) -> list[str]:
    url = f"{stack.settings.public_base_url}/sms/twilio/inbound"
    resp = signed_post(gateway, url, inbound_params(sender, "+46700000000", text), TWILIO_TOKEN)
    assert resp.status_code == 200, resp.text
    return [m.text for m in ET.fromstring(resp.text).iter("Message")]


def test_a_romanian_sms_about_the_reflection_period_gets_the_romanian_sms_answer(gateway, stack):
    replies = sms(gateway, stack, "+40711000001", "ce este perioada de reflectie?")
    assert replies == [Catalog.load().render("utter_reflection_period", "ro", "sms")]
    assert all(segment_info(r).segments <= 3 for r in replies)


def test_a_thai_sms_gets_a_ucs2_aware_answer(gateway, stack):
    replies = sms(gateway, stack, "+66811000002", "ฉันอยู่ในอันตราย ช่วยด้วย")
    catalog = Catalog.load()
    # 112 first, then the offer of a coordinator: both in the same SMS turn.
    expected = " ".join(catalog.render(name, "th", "sms")
                        for name in ("utter_emergency", "utter_emergency_offer_handoff"))
    assert " ".join(replies).split() == expected.split()
    for reply in replies:
        info = segment_info(reply)
        assert info.encoding == "UCS-2" and info.segments <= 3
    assert "112" in replies[0]


def test_an_unsigned_sms_is_refused(gateway):
    resp = gateway.post("/sms/twilio/inbound", data=inbound_params("+46700000009", "", "hej"))
    assert resp.status_code == 403
