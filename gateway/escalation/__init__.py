"""Escalation to the on-call regional coordinator (backend core: regions, staff, rota,
escalations with timed steps, paging through the SMS outbox, audit log)."""
