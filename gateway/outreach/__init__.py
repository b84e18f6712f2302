"""Outreach: QR cards that open the web chat for a source (a team or campaign code, never a
person), and per-source daily counts of newly opened conversations (aggregates only)."""
