"""Rule checks that need no LLM (`[checks]`): built-ins in registry.py, third-party ones through the
`evalharness.checks` entry point group."""
