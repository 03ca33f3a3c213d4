"""Alembic environment: migrations run on the connection evalharness hands over (never a URL from a file)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from evalharness.store.tables import load_all_tables

config = context.config
target_metadata = load_all_tables()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic -x url=... revision --autogenerate` by a contributor
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
