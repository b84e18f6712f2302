"""One typed settings class; every setting is an environment variable prefixed RIGHTSLINE_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_INTERNAL_TOKEN = "local-only-internal-token"


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
    # Shared secret on the internal hops (Rasa -> /nlg, actions -> gateway, gateway -> Rasa API).
    internal_token: SecretStr = SecretStr(LOCAL_INTERNAL_TOKEN)

    max_message_chars: int = Field(default=1000, ge=1, le=10000)
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

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.actions_host}:{self.actions_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @model_validator(mode="after")
    def _refuse_local_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            token = self.internal_token.get_secret_value()
            if token == LOCAL_INTERNAL_TOKEN or len(token) < 32:
                raise ValueError(
                    "RIGHTSLINE_INTERNAL_TOKEN must be set to a random value of at least "
                    "32 characters in production"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs RIGHTSLINE_DATABASE_URL pointing at PostgreSQL")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
