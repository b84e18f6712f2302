"""outreach: sources, daily counts; conversation.source -> region_hint

A conversation no longer keeps the outreach source it was opened from (aggregates only: the
daily count is all that remains); it keeps the source's region, for escalation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite: ALTER TABLE ADD/DROP COLUMN in place (SQLite >= 3.35), never batch's copy-and-
# recreate. With foreign keys on, dropping the old conversation table would cascade and
# delete every message, outbox row and escalation link.
IN_PLACE = {"recreate": "never"}


def upgrade() -> None:
    op.create_table(
        "outreach_sources",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("region_code", sa.String(16), sa.ForeignKey("region.code")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outreach_daily_counts",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("source_code", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("conversations", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("day", "source_code", "language",
                                name="pk_outreach_daily_counts"),
    )
    with op.batch_alter_table("conversation", **IN_PLACE) as batch:
        batch.add_column(sa.Column("region_hint", sa.String(16)))
        batch.drop_column("source")


def downgrade() -> None:
    # The link to the source is gone for good; the column comes back empty.
    with op.batch_alter_table("conversation", **IN_PLACE) as batch:
        batch.add_column(sa.Column("source", sa.String(64)))
        batch.drop_column("region_hint")
    op.drop_table("outreach_daily_counts")
    op.drop_table("outreach_sources")
