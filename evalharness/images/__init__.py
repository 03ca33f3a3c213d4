"""Product images: loading and downscaling (loading.py), quality scorers 1-5 (offline IQA, LLM) behind one
small protocol (scorers.py), cached scoring (scoring.py), VQ@k / LowQ@k values (measures.py) and agreement
with people (agreement.py)."""

from evalharness.images.loading import ImageLoader, ImageUnavailable, downscale

__all__ = ["ImageLoader", "ImageUnavailable", "downscale"]
