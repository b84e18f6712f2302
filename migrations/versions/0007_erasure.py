"""pending erasures (Rasa tracker stores, Twilio redaction)

Placeholder: filled in by the change that needs it (kept so revision numbers stay in order).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
