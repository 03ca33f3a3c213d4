"""The synthetic demo catalog: products, images and a query log, generated on first use."""

from evalharness.sample.generate import DemoCatalog, ensure_demo_catalog

__all__ = ["DemoCatalog", "ensure_demo_catalog"]
