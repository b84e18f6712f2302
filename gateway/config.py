"""One typed settings class; every setting is an environment variable prefixed RIGHTSLINE_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_INTERNAL_TOKEN = "local-only-internal-token"
LOCAL_SENDER_HASH_KEY = "local-only-sender-hash-key"
# A valid Fernet key that is public (it is in this file): local and test use only.
LOCAL_ENCRYPTION_KEY = "bG9jYWwtb25seS1rZXktbm90LWZvci1wcm9kdWN0aW8="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RIGHTSLINE_", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'rightsline.db'}"

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    actions_host: str = "127.0.0.1"
    actions_port: int = 5055
    # Gateway -> Rasa budget for one turn. SMS must answer Twilio well under 15 s, so this
    # stays far below that.
    rasa_timeout_seconds: float = Field(default=8.0, gt=0, le=30)
    # After Rasa failed or timed out, turns get the fixed answer at once for this long (then
    # one turn tries Rasa again).
    rasa_down_seconds: float = Field(default=15.0, ge=0, le=300)
    # How often each gateway answers messages whose turn never finished (a crash).
    turn_sweep_seconds: float = Field(default=10.0, gt=0)
    # Shared secret on the internal hops (Rasa -> /nlg, actions -> gateway, gateway -> Rasa API).
    internal_token: SecretStr = SecretStr(LOCAL_INTERNAL_TOKEN)

    default_language: str = "en"
    # Detect the language of a conversation's text when nobody chose one (lingua).
    detect_language: bool = True
    # Languages the detector also recognises, so that a first message in one of them gets
    # "this language is not available" (or machine translation when Argos has it).
    detect_extra_languages: list[str] = ["de", "it", "pt", "tr", "nl", "vi"]
    # Where Argos Translate packages are installed (python -m translations.mt_cli).
    argos_home: Path = REPO_ROOT / "var" / "argos"
    reviewed_languages_only: bool = False
    log_level: str = "INFO"
    # Where the web chat's quick exit goes (Shift 3 times, or the button): a neutral site that
    # looks ordinary on a watched phone.
    quick_exit_url: str = Field(default="https://www.smhi.se/", pattern=r"^https?://[^\s\"'<>]+$")

    # --- SMS (Twilio) ---
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # Send from a Messaging Service (preferred) or from one number.
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    # Only tests change this (a fake Twilio API on loopback).
    twilio_api_base_url: str = "https://api.twilio.com"
    # The URL Twilio calls, as Twilio sees it (behind a proxy: the public https URL).
    public_base_url: str = "http://127.0.0.1:8000"
    # Keyed hash that identifies a sender, and the key that encrypts numbers at rest.
    sender_hash_key: SecretStr = SecretStr(LOCAL_SENDER_HASH_KEY)
    encryption_key: SecretStr = SecretStr(LOCAL_ENCRYPTION_KEY)
    # Answer Twilio with TwiML if the reply is ready within this budget; otherwise answer
    # empty TwiML and send the reply through the REST API. Twilio gives up at 15 s.
    sms_reply_budget_seconds: float = Field(default=5.0, gt=0, le=10)
    sms_max_segments_per_turn: int = Field(default=6, ge=1, le=20)
    sms_discreet_numbers: list[str] = []
    rate_limit_per_sender: int = 12  # inbound SMS per sender (hash, across conversations) per window
    rate_limit_global: int = 600  # different SMS senders answered per window (gateway.sms.limits)
    rate_limit_window_seconds: int = 600
    outbox_poll_seconds: float = 1.0
    outbox_max_attempts: int = 8
    # Bodies and numbers of outbox rows that are done (sent, delivered, failed, dead,
    # simulated) are blanked this long after their last change (gateway.messaging.outbox).
    outbox_body_retention_minutes: int = Field(default=15, ge=0)
    retention_days: int = Field(default=30, ge=1)

    # --- escalation ---
    escalation_ack_timeout_minutes: int = Field(default=10, ge=1)
    # A request in danger (urgency=danger) moves on to the backup and the fallback sooner.
    escalation_danger_ack_timeout_minutes: int = Field(default=5, ge=1)
    escalation_fallback_pager: str | None = None  # national fallback contact's number
    escalation_poll_seconds: float = 5.0
    # Pages one coordinator gets per hour at most (beyond: an alert, not silence), and the
    # fallback contact (gateway.abuse.paging).
    escalation_pages_per_hour: int = Field(default=6, ge=1)
    escalation_fallback_pages_per_hour: int = Field(default=20, ge=1)

    # --- web chat limits and blocks (gateway.abuse) ---
    # Addresses or networks of the reverse proxies whose X-Forwarded-For is believed; none by
    # default (the connection's own address is the client).
    trusted_proxies: list[str] = []
    webchat_rate_limit_per_conversation: int = Field(default=30, ge=1)
    webchat_rate_limit_per_client: int = Field(default=120, ge=1)
    webchat_new_conversations_per_client: int = Field(default=10, ge=1)
    webchat_rate_limit_window_seconds: int = Field(default=600, ge=1)
    # New conversations of one client address a day that count in the outreach figures.
    outreach_counts_per_client_per_day: int = Field(default=3, ge=1)
    # The longest block a coordinator or administrator may set (never for ever by default).
    block_max_days: int = Field(default=92, ge=1)

    # --- console sign-in (gateway.console.auth) ---
    # Failed sign-ins one client (address, or the trusted proxy's forwarded one) may make per
    # window before it is refused; an account locks only after more failures from anywhere.
    console_client_failures: int = Field(default=5, ge=1)
    console_client_window_minutes: int = Field(default=15, ge=1)
    console_lockout_failures: int = Field(default=20, ge=1)
    console_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # How often each gateway deletes expired console sessions and old failed sign-ins.
    console_purge_seconds: float = Field(default=300, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"RIGHTSLINE_TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
        return [item.strip() for item in value]

    @property
    def is_sms_simulated(self) -> bool:
        """No Twilio account configured: record what would be sent instead of sending."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.actions_host}:{self.actions_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def is_loopback_only(self) -> bool:
        """The line is reachable from this machine only: its public URL is loopback and its
        database is SQLite or on loopback. Only then may the published local secrets be used."""
        from urllib.parse import urlsplit

        from sqlalchemy.engine import make_url

        public_host = (urlsplit(self.public_base_url).hostname or "").lower()
        try:
            db_host = (make_url(self.database_url).host or "").lower()
        except Exception:  # noqa: BLE001 - an unparsable URL is not "local"
            return False
        local = {"127.0.0.1", "localhost", "::1"}
        return public_host in local and (db_host in local or db_host == "")

    @model_validator(mode="after")
    def _refuse_published_secrets_off_loopback(self) -> "Settings":
        """The local defaults are in this repository: with them the numbers' hashes could be
        reversed by anyone. Refused whenever the line is reachable from outside this machine
        or its database is elsewhere, whatever RIGHTSLINE_ENVIRONMENT says, and always in
        production. The one place for these rules; production adds its own below."""
        if self.is_loopback_only and self.environment != "production":
            return self
        for name, value, local in (
            ("INTERNAL_TOKEN", self.internal_token, LOCAL_INTERNAL_TOKEN),
            ("SENDER_HASH_KEY", self.sender_hash_key, LOCAL_SENDER_HASH_KEY),
            ("ENCRYPTION_KEY", self.encryption_key, LOCAL_ENCRYPTION_KEY),
        ):
            secret = value.get_secret_value()
            if not secret or secret == local or (name != "ENCRYPTION_KEY" and len(secret.encode()) < 32):
                raise ValueError(
                    f"RIGHTSLINE_{name} must be set to a strong secret of at least 32 bytes in "
                    "production, or when the public URL or the database is not on loopback")
        return self

    @model_validator(mode="after")
    def _refuse_local_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production needs RIGHTSLINE_PUBLIC_BASE_URL to be https://")
            if len(self.internal_token.get_secret_value()) < 32:  # characters, not only bytes
                raise ValueError(
                    "RIGHTSLINE_INTERNAL_TOKEN must be set to a random value of at least "
                    "32 characters in production"
                )
            if self.is_sms_simulated:
                raise ValueError("production needs RIGHTSLINE_TWILIO_ACCOUNT_SID and _AUTH_TOKEN")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs RIGHTSLINE_DATABASE_URL pointing at PostgreSQL")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
