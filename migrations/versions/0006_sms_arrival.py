"""sms_arrival: when each inbound SMS arrived, by sender hash, for rate limits

Kept apart from conversations so that the per-sender limit follows the sender across a
DELETE (erasing a conversation must not reset the flood limit). Holds no text and no number:
the sender's keyed hash and a time, pruned once older than the rate-limit window.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_arrival",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("sender_hash", sa.String(64), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_over_limit", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_sms_arrival_sender_time", "sms_arrival", ["sender_hash", "arrived_at"])
    op.create_index("ix_sms_arrival_arrived_at", "sms_arrival", ["arrived_at"])


def downgrade() -> None:
    op.drop_table("sms_arrival")
