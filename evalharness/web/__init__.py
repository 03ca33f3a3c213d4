"""The local rating page (`evalharness rate`): an ASGI app, its session logic, page and script."""
