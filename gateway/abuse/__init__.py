"""Abuse resistance: web chat rate limits, paging caps, time-limited blocks (issue 11, items 3-4).

Everything here counts in the database (never in process memory), so it holds across gateway
replicas, and stores only keyed hashes (RIGHTSLINE_SENDER_HASH_KEY): no address, number or text.
"""
