"""Outbound messaging shared by every slice: the outbox (commit, then send), the number vault
(encrypted and hashed phone numbers), SMS splitting and the senders (Twilio or simulated).

It sits below the feature folders (sms, escalation, console, abuse, ...): it imports none of
them, so each of them can depend on it without an import cycle."""
