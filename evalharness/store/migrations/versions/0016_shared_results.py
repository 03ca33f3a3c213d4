"""A run's query can share the hit rows of an earlier run: `run_queries.results_run` names the run whose
`run_results` rows hold its hits (the run itself when it wrote them; NULL for rows written before this revision,
which are never shared). A cached rerun whose lists did not change writes no hit rows.

Revision ID: 0016
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("run_queries", sa.Column("results_run", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_queries") as batch:
        batch.drop_column("results_run")
