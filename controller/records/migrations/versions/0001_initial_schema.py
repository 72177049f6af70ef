"""Schema version 1: campaigns, samples, Bluesky documents, runs per sample, campaign events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``meta.schema_version`` mirrors the revision for sdl releases older than the
    # migrations: they refuse a store whose version is newer than theirs.
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("budget", sa.Double, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("stop_reason", sa.Text),
        sa.Column("owner", sa.Text),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("campaign", sa.Text, sa.ForeignKey("campaigns.name"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("fidelity", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("cost", sa.Double, nullable=False),
        sa.Column("run_uid", sa.Text),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("completed", sa.Double),
        sa.Column("record_json", sa.Text, nullable=False),
        sa.UniqueConstraint("campaign", "seq"),
    )
    op.create_index("samples_campaign", "samples", ["campaign", "seq"])
    op.create_table(
        "documents",
        sa.Column("run_uid", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("doc_json", sa.Text, nullable=False),
    )
    op.create_table(
        "sample_runs",
        sa.Column("sample_id", sa.Text, sa.ForeignKey("samples.id"), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("run_uid", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "campaign_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload_json", sa.Text, nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: event tails stay monotonic
    )
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    for table in ("campaign_events", "sample_runs", "documents", "samples", "campaigns", "meta"):
        op.drop_table(table)
