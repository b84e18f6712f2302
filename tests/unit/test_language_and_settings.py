import pytest
from pydantic import ValidationError

from gateway.bot.client import neutralise_commands
from gateway.config import Settings
from gateway.language.service import resolve_language

SUPPORTED = {"en", "sv", "ro"}.__contains__


def decide(**kw):
    base = dict(explicit=None, sticky=None, text="hello there", supported=SUPPORTED, default="en")
    base.update(kw)
    return resolve_language(**base)


def test_explicit_choice_wins_over_sticky_and_detection():
    d = decide(explicit="ro", sticky="sv", detect=lambda t, **kw: "en")
    assert (d.language, d.source) == ("ro", "explicit")


def test_sticky_language_holds_when_detection_is_unsure():
    d = decide(sticky="sv", detect=lambda t, **kw: None)
    assert (d.language, d.source) == ("sv", "sticky")


def test_confident_detection_switches_and_is_used_for_new_conversations():
    assert decide(sticky="sv", text="hello there my friend", detect=lambda t, **kw: "ro").language == "ro"
    assert decide(detect=lambda t, **kw: "sv").source == "detected"
    assert decide().source == "default"


def test_an_unsure_first_message_is_answered_with_a_hint_and_stays_unsettled():
    from gateway.language.identify import Identification

    guess = decide(text="ok", detect=lambda t: Identification("ro", False, "statistics"))
    assert (guess.language, guess.source, guess.needs_language_hint) == ("ro", "guessed", True)
    nothing = decide(text="ok", detect=lambda t: Identification(None, False, "unsure"))
    assert (nothing.language, nothing.source, nothing.needs_language_hint) == ("en", "default", True)
    # the next message, even a short one, may correct a guess ...
    fixed = decide(sticky="ro", sticky_source="guessed", text="merci",
                   detect=lambda t: Identification("sv", True, "statistics"))
    assert (fixed.language, fixed.source, fixed.needs_language_hint) == ("sv", "detected", False)
    # ... and a sure one in the guessed language settles it
    kept = decide(sticky="ro", sticky_source="guessed", text="da",
                  detect=lambda t: Identification("ro", True, "statistics"))
    assert (kept.language, kept.source) == ("ro", "detected")
    # a settled conversation is not moved by a short message, however sure
    settled = decide(sticky="ro", sticky_source="detected", text="merci",
                     detect=lambda t: Identification("sv", True, "statistics"))
    assert (settled.language, settled.source) == ("ro", "sticky")


def test_an_unsupported_explicit_choice_is_reported_not_silently_used():
    d = decide(explicit="xx", sticky="sv")
    assert (d.language, d.unsupported_choice) == ("sv", "xx")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/restart", "restart"), ("  /request_human{}", "request_human{}"), ("//x", "x"),
     ("\\/greet", "greet"), ("hello /restart", "hello /restart")],
)
def test_commands_are_neutralised(text, expected):
    assert neutralise_commands(text) == expected


PRODUCTION = dict(
    environment="production", internal_token="x" * 40, database_url="postgresql://d/x",
    sender_hash_key="h" * 40, encryption_key="Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=",
    twilio_account_sid="AC" + "0" * 32, twilio_auth_token="t" * 32,
    public_base_url="https://line.example.org",
)


@pytest.mark.parametrize(
    ("missing", "message"),
    [("internal_token", "INTERNAL_TOKEN"), ("database_url", "PostgreSQL"),
     ("sender_hash_key", "SENDER_HASH_KEY"), ("encryption_key", "ENCRYPTION_KEY"),
     ("twilio_auth_token", "TWILIO")],
)
def test_production_refuses_local_defaults(missing, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**{k: v for k, v in PRODUCTION.items() if k != missing})


def test_production_starts_with_real_secrets():
    assert Settings(**PRODUCTION).environment == "production"


def test_settings_come_from_rightsline_environment_variables(monkeypatch):
    monkeypatch.setenv("RIGHTSLINE_GATEWAY_PORT", "9123")
    monkeypatch.setenv("RIGHTSLINE_RASA_PORT", "6000")
    s = Settings()
    assert s.gateway_port == 9123 and s.rasa_url == "http://127.0.0.1:6000"


def test_a_one_word_message_never_flips_a_settled_conversation():
    from gateway.language.detect import LanguageDetector

    detect = LanguageDetector(["sv", "en", "pl"])
    d = resolve_language(explicit=None, sticky="sv", text="okej", supported=SUPPORTED,
                         default="en", detect=detect)
    assert (d.language, d.source) == ("sv", "sticky")


@pytest.mark.parametrize("exposed", [
    {"public_base_url": "https://line.example.org"},
    {"database_url": "postgresql://db.internal/rightsline"},
])
def test_the_published_local_secrets_are_refused_off_loopback_in_any_environment(exposed):
    for environment in ("local", "test"):
        with pytest.raises(ValidationError, match="strong secret"):
            Settings(environment=environment, **exposed)
    strong = dict(internal_token="i" * 40, sender_hash_key="s" * 40,
                  encryption_key=PRODUCTION["encryption_key"])
    assert Settings(environment="local", **exposed, **strong).environment == "local"


def test_loopback_with_local_secrets_is_fine_for_development():
    assert Settings(environment="local").is_loopback_only
    assert Settings(database_url="postgresql://127.0.0.1/test").is_loopback_only
    assert Settings(database_url="postgresql:///test").is_loopback_only  # unix socket


@pytest.mark.parametrize(("override", "message"), [
    ({"public_base_url": "http://line.example.org"}, "https"),
    ({"sender_hash_key": "short-key-16byte"}, "32 bytes"),
])
def test_production_needs_https_and_a_long_sender_hash_key(override, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**(PRODUCTION | override))
