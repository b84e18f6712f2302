"""Rightsline gateway: the only door to the outside and the only owner of the database."""
