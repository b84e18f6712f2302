"""console sign-in: atomic lock-out, TOTP second factor

Second factor per staff user (TOTP secret encrypted, recovery codes hashed), failed sign-ins
per client (keyed hash of the address, one counter row per window) for throttling, and enrolment-only sessions. Lock-out
counting itself needs no schema change (staff_user.failed_logins is now incremented in SQL).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("console_session") as batch:
        batch.add_column(sa.Column("enrol_only", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "staff_second_factor",
        sa.Column("staff_id", ID, sa.ForeignKey("staff_user.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("secret_encrypted", sa.Text()),
        sa.Column("pending_encrypted", sa.Text()),
        sa.Column("enabled_at", TS),
        sa.Column("last_step", sa.BigInteger()),
    )
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("staff_id", ID, sa.ForeignKey("staff_user.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.UniqueConstraint("staff_id", "code_hash", name="uq_recovery_code"),
    )
    op.create_index("ix_staff_recovery_code_staff_id", "staff_recovery_code", ["staff_id"])
    op.create_table(
        "console_client_throttle",
        sa.Column("client_hash", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", TS, nullable=False),
    )
    op.create_index("ix_console_client_throttle_window_started_at", "console_client_throttle",
                    ["window_started_at"])


def downgrade() -> None:
    op.drop_index("ix_console_client_throttle_window_started_at",
                  table_name="console_client_throttle")
    op.drop_table("console_client_throttle")
    op.drop_index("ix_staff_recovery_code_staff_id", table_name="staff_recovery_code")
    op.drop_table("staff_recovery_code")
    op.drop_table("staff_second_factor")
    with op.batch_alter_table("console_session") as batch:
        batch.drop_column("enrol_only")
