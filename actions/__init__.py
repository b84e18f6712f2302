"""Rasa action server (rasa_sdk): thin actions; anything stateful goes through the gateway."""
