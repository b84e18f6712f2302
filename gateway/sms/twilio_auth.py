"""Verify that a webhook request really comes from Twilio, before anything else happens."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from twilio.request_validator import RequestValidator

from gateway.config import Settings
from gateway.deps import SettingsDep

log = logging.getLogger(__name__)


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio signed: the configured public base URL (correct behind a proxy or TLS
    terminator, where request.url is the internal one) + the path and query as received."""
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def verified_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The webhook's form fields, once the X-Twilio-Signature matches. 403 otherwise.

    Only local simulator mode without an auth token skips the check (nothing to check with).
    """
    try:
        form = await request.form()
        fields = {key: str(value) for key, value in form.multi_items()}
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "form body is not valid") from None
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    if token:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(token).validate(
            public_url(settings, request), fields, signature
        ):
            log.warning("refused a webhook with a missing or wrong Twilio signature")
            raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid Twilio signature")
    elif not settings.is_sms_simulated or settings.environment == "production":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no Twilio auth token configured")
    return fields


TwilioForm = Annotated[dict[str, str], Depends(verified_form)]
