"""The SMS line over Twilio: verified, idempotent, private, and never silent."""
