"""Schema version 2: operator decisions (approvals of gated samples, pause/resume/stop requests).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("sample_id", sa.Text, sa.ForeignKey("samples.id"), primary_key=True),
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("time", sa.Double, nullable=False),
    )
    op.create_table(
        "controls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("handled", sa.Double),
        sa.Column("outcome", sa.Text),
        sqlite_autoincrement=True,
    )
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.drop_table("controls")
    op.drop_table("approvals")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
