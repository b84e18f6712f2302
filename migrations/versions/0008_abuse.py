"""web chat rate limits, outreach counts per client, time-limited blocks

- webchat_arrival: when a web chat message was taken (or a conversation opened), by the keyed
  hash of the conversation id or of the client address; what the web chat limits count across
  replicas. No text, no address; pruned once older than the window.
- outreach_client_day: how many new conversations of one client (keyed hash) a day counted in
  the outreach figures, so one client cannot pump them. No source, no conversation.
- abuse_block: time-limited blocks of an SMS sender (number hash) or a web conversation
  (hash of its id), audited in audit_event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "webchat_arrival",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webchat_arrival_key_time", "webchat_arrival",
                    ["kind", "key_hash", "arrived_at"])
    op.create_index("ix_webchat_arrival_arrived_at", "webchat_arrival", ["arrived_at"])
    op.create_table(
        "outreach_client_day",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("client_hash", sa.String(64), primary_key=True),
        sa.Column("counted", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "abuse_block",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer),
        sa.Column("escalation_id", _ID),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.Column("lifted_by", sa.Integer),
        sa.Column("last_notice_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_abuse_block_key", "abuse_block", ["kind", "key_hash", "expires_at"])


def downgrade() -> None:
    op.drop_table("abuse_block")
    op.drop_table("outreach_client_day")
    op.drop_table("webchat_arrival")
