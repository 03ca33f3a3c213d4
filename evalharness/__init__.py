"""evalharness: retrieve, annotate, evaluate, repeat — search evaluation for e-commerce teams."""

__version__ = "0.1.0"
