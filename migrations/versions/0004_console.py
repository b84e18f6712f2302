"""console: sign-in sessions for the coordinator console

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("staff_id", ID, sa.ForeignKey("staff_user.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
    )
    op.create_index("ix_console_session_staff_id", "console_session", ["staff_id"])
    op.create_index("ix_console_session_expires_at", "console_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_console_session_expires_at", table_name="console_session")
    op.drop_index("ix_console_session_staff_id", table_name="console_session")
    op.drop_table("console_session")
