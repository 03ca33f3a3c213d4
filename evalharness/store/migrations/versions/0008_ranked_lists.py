"""Each stored query keeps its ranked list (doc ids, content hashes, ranks, scores) in one compact column.

Compare reads a run's lists from one row per query instead of one row per hit. The upgrade fills the column for
every run already stored, from its hits, one run at a time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("run_queries", sa.Column("ranked", sa.Text, nullable=True))
    conn = op.get_bind()
    meta = sa.MetaData()
    queries = sa.Table("run_queries", meta, sa.Column("run_id", sa.String(80)), sa.Column("query_id", sa.String(200)),
                       sa.Column("ranked", sa.Text))
    results = sa.Table("run_results", meta, sa.Column("run_id", sa.String(80)), sa.Column("query_id", sa.String(200)),
                       sa.Column("rank", sa.Integer), sa.Column("doc_id", sa.String(200)),
                       sa.Column("content_hash", sa.String(64)), sa.Column("hit", sa.JSON))
    r = results.c
    for (run_id,) in conn.execute(sa.select(queries.c.run_id).distinct()).all():
        lists: dict[str, list[list]] = {
            qid: [[], [], [], [], []] for (qid,) in conn.execute(sa.select(queries.c.query_id).where(queries.c.run_id == run_id))}
        rows = conn.execute(sa.select(r.query_id, r.doc_id, r.content_hash, r.rank, r.hit)
                            .where(r.run_id == run_id).order_by(r.query_id, r.rank))
        for qid, doc_id, chash, rank, hit in rows:  # score and image URL exactly as the hit's JSON holds them
            values = (doc_id, chash, rank, hit["score"], hit.get("image_url", ""))
            for column, value in zip(lists.setdefault(qid, [[], [], [], [], []]), values):
                column.append(value)
        update = (sa.update(queries).where(queries.c.run_id == sa.bindparam("rid"), queries.c.query_id == sa.bindparam("qid"))
                  .values(ranked=sa.bindparam("value")))
        params = [{"rid": run_id, "qid": qid, "value": json.dumps(row, separators=(",", ":"))} for qid, row in lists.items()]
        for start in range(0, len(params), 1000):
            conn.execute(update, params[start:start + 1000])


def downgrade() -> None:
    with op.batch_alter_table("run_queries") as batch:
        batch.drop_column("ranked")
