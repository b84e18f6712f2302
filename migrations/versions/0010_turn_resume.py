"""resuming interrupted turns

A person's message is stored (committed) before Rasa is asked; if the process dies before the
answer is stored, the message must still be answered, once. The inbound message carries its
turn's state: `awaiting_reply` until the turn's replies are stored, and a lease
(`turn_claim_token`, `turn_claimed_until`) held by the worker taking the turn, so that a
retry of the same message or the sweep (any replica) takes over only a turn whose worker is
gone. Existing rows are not awaiting anything (server default false).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("awaiting_reply", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("turn_claim_token", sa.String(32), nullable=True))
        batch.add_column(sa.Column("turn_claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("turn_attempts", sa.Integer, nullable=False,
                                   server_default="0"))
    op.create_index("ix_message_awaiting_reply", "message", ["awaiting_reply"])


def downgrade() -> None:
    op.drop_index("ix_message_awaiting_reply", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("turn_attempts")
        batch.drop_column("turn_claimed_until")
        batch.drop_column("turn_claim_token")
        batch.drop_column("awaiting_reply")
