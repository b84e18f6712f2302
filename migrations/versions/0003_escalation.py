"""escalation: regions, staff, on-call rota, escalations, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "region",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )
    op.create_table(
        "region_area",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("region_code", sa.String(16), sa.ForeignKey("region.code"), nullable=False),
    )
    op.create_index("ix_region_area_region_code", "region_area", ["region_code"])
    op.create_table(
        "staff_user",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("region_code", sa.String(16), sa.ForeignKey("region.code")),
        sa.Column("pager_encrypted", sa.Text),
        sa.Column("pager_hash", sa.String(64)),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", TS),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_staff_user_pager_hash", "staff_user", ["pager_hash"])
    op.create_table(
        "on_call_shift",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(16), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("staff_id", ID, sa.ForeignKey("staff_user.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.String(8), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("is_override", sa.Boolean, nullable=False),
    )
    op.create_index("ix_on_call_shift_region_code", "on_call_shift", ["region_code"])
    op.create_index("ix_on_call_shift_starts_at", "on_call_shift", ["starts_at"])
    op.create_index("ix_on_call_shift_ends_at", "on_call_shift", ["ends_at"])
    op.create_table(
        "escalation",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(8), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(64),
                  sa.ForeignKey("conversation.id", ondelete="SET NULL")),
        sa.Column("region_code", sa.String(16), sa.ForeignKey("region.code")),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("may_contact", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.String(8), nullable=False),
        sa.Column("paged_staff_id", ID, sa.ForeignKey("staff_user.id")),
        sa.Column("acknowledged_by", ID, sa.ForeignKey("staff_user.id")),
        sa.Column("step_due_at", TS),
        sa.Column("outcome", sa.String(32)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("closed_at", TS),
    )
    op.create_index("ix_escalation_conversation_id", "escalation", ["conversation_id"])
    op.create_index("ix_escalation_state", "escalation", ["state"])
    op.create_index("ix_escalation_step_due_at", "escalation", ["step_due_at"])
    op.create_table(
        "audit_event",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("escalation_id", ID),
        sa.Column("detail", sa.String(200)),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_escalation_id", "audit_event", ["escalation_id"])


def downgrade() -> None:
    for table in ("audit_event", "escalation", "on_call_shift", "staff_user", "region_area",
                  "region"):
        op.drop_table(table)
