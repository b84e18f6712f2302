"""Hold an SMS conversation with the line from the terminal, signed exactly as Twilio signs.

    .venv/bin/python -m gateway.sms.simulator --from +46700000001 "Vad är betänketid?"
    .venv/bin/python -m gateway.sms.simulator --from +46700000001      (interactive)

Posts to the gateway's /sms/twilio/inbound (RIGHTSLINE_PUBLIC_BASE_URL, default
http://127.0.0.1:8000) with Twilio's form fields, signs with RIGHTSLINE_TWILIO_AUTH_TOKEN when
one is set, and prints the TwiML replies. Replies sent later through the outbox (local
simulator mode records them instead of sending) are printed when they appear.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import xml.etree.ElementTree as ET

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from gateway.config import get_settings
from gateway.db import Database
from gateway.models import Conversation, OutboxMessage
from gateway.messaging.vault import NumberVault


def signed_post(client: httpx.Client, url: str, params: dict[str, str], token: str | None,
                signed_url: str | None = None) -> httpx.Response:
    headers = {}
    if token:
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(
            signed_url or url, params)
    return client.post(url, data=params, headers=headers)


def twiml_texts(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


def inbound_params(sender: str, to: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + secrets.token_hex(16), "SmsSid": "", "AccountSid": "AC" + "0" * 32,
        "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="sender", default="+46700000001")
    parser.add_argument("--to", default="+46700000000")
    parser.add_argument("--wait", type=float, default=3.0,
                        help="seconds to watch the outbox for later replies")
    parser.add_argument("text", nargs="*")
    args = parser.parse_args()
    settings = get_settings()
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    url = settings.public_base_url.rstrip("/") + "/sms/twilio/inbound"
    vault = NumberVault(settings.sender_hash_key.get_secret_value(),
                        settings.encryption_key.get_secret_value())
    db = Database(settings.database_url)
    seen: set[int] = set()

    def later_replies() -> list[str]:
        with db.session() as s:
            conv = s.scalar(select(Conversation.id).where(
                Conversation.sender_hash == vault.sender_hash(args.sender)))
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.conversation_id == conv).order_by(OutboxMessage.id)).all()
            new = [r for r in rows if r.id not in seen and r.status != "pending"]
            seen.update(r.id for r in new)
            return [r.body for r in new]

    def say(text: str) -> None:
        resp = signed_post(client, url, inbound_params(args.sender, args.to, text), token)
        if resp.status_code != 200:
            print(f"! {resp.status_code} {resp.text}")
            return
        for reply in twiml_texts(resp.text):
            print(f"< {reply}\n")
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            for reply in later_replies():
                print(f"< (later) {reply}\n")
            time.sleep(0.5)

    with httpx.Client(timeout=30) as client:
        later_replies()  # what was already there is not news
        if args.text:
            say(" ".join(args.text))
            return 0
        print("Write a message (Ctrl-D to end).")
        for line in sys.stdin:
            if line.strip():
                say(line.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
