"""Schema version 4: tamper-evident records (the hash chain), lease heartbeats, write tokens.

- ``chain``: append-only, one link per write of a sample or a document of a campaign (see
  :mod:`controller.records.integrity`). A store made before this revision gets the chain of
  what it holds now, so it verifies.
- ``campaigns.heartbeat``: UNIX time of the running controller's last heartbeat (its lease).
- ``write_tokens``: one row per committed PostgreSQL write, so a commit whose outcome a lost
  connection hid is looked up rather than written twice.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from controller.records.integrity import backfill

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain",
        sa.Column("campaign", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("content_json", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("time", sa.Double, nullable=False),
    )
    op.create_index("chain_ref", "chain", ["campaign", "kind", "ref"])
    op.create_table(
        "write_tokens",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("result_json", sa.Text),
    )
    op.add_column("campaigns", sa.Column("heartbeat", sa.Double))
    conn = op.get_bind()

    def rows(sql: str, **params):
        return conn.execute(sa.text(sql), params).mappings().all()

    def insert(link: dict) -> None:
        conn.execute(sa.text("INSERT INTO chain (campaign, seq, kind, ref, content_json, prev_hash, hash, time) "
                             "VALUES (:campaign, :seq, :kind, :ref, :content_json, :prev_hash, :hash, :time)"), link)

    backfill(rows, insert)
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("heartbeat")
    op.drop_table("write_tokens")
    op.drop_index("chain_ref", table_name="chain")
    op.drop_table("chain")
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
