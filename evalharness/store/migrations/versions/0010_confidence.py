"""Judgments keep a confidence: the probability the judge gave its label (from the label tokens' log-probabilities,
or the share of agreeing samples or votes). The upgrade fills it for stored vote judgments from their details.
A new table keeps calibrations: a judge's confidences on a gold set (what a cascade's --dry-run estimates from).

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("judge_id", sa.String(400), primary_key=True),
        sa.Column("human", sa.String(200), primary_key=True),
        sa.Column("pairs", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.add_column("judgments", sa.Column("confidence", sa.Float, nullable=True))
    conn = op.get_bind()
    judgments = sa.Table("judgments", sa.MetaData(), sa.Column("cache_key", sa.String(64)), sa.Column("judge_id", sa.String(400)),
                         sa.Column("details", sa.JSON), sa.Column("confidence", sa.Float))
    j = judgments.c
    rows = conn.execute(sa.select(j.cache_key, j.details).where(j.judge_id.like("vote(%"))).all()
    params = []
    for key, details in rows:
        details = json.loads(details) if isinstance(details, str) else details
        if isinstance(details, dict) and isinstance(details.get("confidence"), (int, float)):
            params.append({"k": key, "c": float(details["confidence"])})
    update = sa.update(judgments).where(j.cache_key == sa.bindparam("k")).values(confidence=sa.bindparam("c"))
    for start in range(0, len(params), 1000):
        conn.execute(update, params[start:start + 1000])


def downgrade() -> None:
    op.drop_table("calibrations")
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("confidence")
