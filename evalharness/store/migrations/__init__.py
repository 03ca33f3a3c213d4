"""Alembic migrations of the store's schema (one linear chain; `evalharness store upgrade` applies them)."""
