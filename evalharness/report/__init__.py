"""Renderers of a Comparison: HTML (self-contained), Markdown, JUnit XML."""
