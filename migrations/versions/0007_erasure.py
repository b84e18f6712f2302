"""pending erasures (Rasa tracker stores, Twilio redaction)

An erased conversation's copies outside the gateway's database (Rasa's tracker, message
bodies at Twilio) are written here in the transaction that deletes the conversation, and
removed once erased; a worker retries them with backoff. No text, no number.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_erasure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(100)),
        sa.Column("secret", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "target", name="uq_pending_erasure_kind_target"),
    )
    op.create_index("ix_pending_erasure_next_attempt_at", "pending_erasure", ["next_attempt_at"])
    # The outbox body purge (gateway.messaging.outbox.purge_done_bodies) looks only at rows that
    # still hold a body.
    unpurged = sa.text("body <> ''")
    op.create_index("ix_outbox_message_unpurged", "outbox_message", ["updated_at"],
                    postgresql_where=unpurged, sqlite_where=unpurged)


def downgrade() -> None:
    op.drop_index("ix_outbox_message_unpurged", table_name="outbox_message")
    op.drop_table("pending_erasure")
