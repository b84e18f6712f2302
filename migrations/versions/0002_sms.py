"""SMS: sender hash and encrypted number on conversations, the outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("sender_hash", sa.String(64)))
        batch.add_column(sa.Column("sender_encrypted", sa.Text))
        batch.add_column(sa.Column("service_number", sa.String(32)))
        batch.add_column(sa.Column("is_opted_out", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.create_index("ix_conversation_sender_hash", ["sender_hash"])
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("conversation_id", sa.String(64),
                  sa.ForeignKey("conversation.id", ondelete="CASCADE")),
        sa.Column("to_encrypted", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("twilio_sid", sa.String(64), unique=True),
        sa.Column("last_error", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outbox_message_conversation_id", "outbox_message", ["conversation_id"])
    op.create_index("ix_outbox_message_status", "outbox_message", ["status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_status", table_name="outbox_message")
    op.drop_index("ix_outbox_message_conversation_id", table_name="outbox_message")
    op.drop_table("outbox_message")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_index("ix_conversation_sender_hash")
        batch.drop_column("is_opted_out")
        batch.drop_column("service_number")
        batch.drop_column("sender_encrypted")
        batch.drop_column("sender_hash")
