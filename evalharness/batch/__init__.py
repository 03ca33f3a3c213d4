"""Provider batch judging: `run --batch` submits (submit.py, files.py), `batches collect` ingests, resends and
finishes runs (collect.py, ingest.py, finish.py); one client per provider (openai_batch, gemini_batch,
anthropic_batch) behind base.BatchClient."""
