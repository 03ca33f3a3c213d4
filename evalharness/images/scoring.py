"""Score many images with one scorer: hash each image's bytes, reuse cached scores, score the rest once each.

Images come from local paths or URLs (ImageLoader); the same bytes under several products or paths are
scored once. An unreadable image is listed as failed with its reason, never scored, never cached. Scores are
committed one by one as they arrive, so an interrupted run keeps what it paid for.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalharness.errors import EvalHarnessError
from evalharness.images.loading import ImageLoader, ImageUnavailable
from evalharness.images.scorers import ImageScore, ImageScorer
from evalharness.models import sha256_hex
from evalharness.pipeline import SilentStages, Stages
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.image_scores import get_scores, known_file_hashes, put_score, remember_file_hashes


@dataclass(frozen=True)
class ImageRef:
    """One image of one product (a product may have several)."""

    product_id: str
    ref: str


@dataclass
class ScoringOutcome:
    """Scores by image reference, failures by reference, and what the new scores cost."""

    scorer_id: str
    scores: dict[str, ImageScore] = field(default_factory=dict)   # ref -> score
    hashes: dict[str, str] = field(default_factory=dict)          # ref -> sha256 of the image bytes
    failures: dict[str, str] = field(default_factory=dict)        # ref -> reason
    new: int = 0
    cached: int = 0
    cost_usd: float = 0.0


def _local_path(ref: str) -> Path | None:
    if not ref or ref.startswith(("http://", "https://")):
        return None
    return Path(ref.removeprefix("file://"))


def hash_images(store: Store, loader: ImageLoader, refs: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(ref -> sha256 of its bytes, ref -> failure reason). Local files whose size and mtime are unchanged are not
    read again; the others are read (remote ones through the loader's disk cache) and remembered."""
    hashes: dict[str, str] = {}
    failures: dict[str, str] = {}
    stats: dict[str, tuple[int, int]] = {}
    for ref in dict.fromkeys(refs):
        path = _local_path(ref)
        if path is not None:
            try:
                st = os.stat(path)
            except OSError as exc:
                failures[ref] = f"cannot read image {path} ({exc.strerror})"
                continue
            stats[ref] = (st.st_size, st.st_mtime_ns)
    hashes.update(known_file_hashes(store, stats))
    learned = []
    for ref in dict.fromkeys(refs):
        if ref in hashes or ref in failures:
            continue
        try:
            data = loader.raw(ref)
        except ImageUnavailable as exc:
            failures[ref] = str(exc)
            continue
        hashes[ref] = sha256_hex(data)
        if ref in stats:
            learned.append((ref, *stats[ref], hashes[ref]))
    remember_file_hashes(store, learned)
    return hashes, failures


async def _score_missing(scorer: ImageScorer, store: Store, loader: ImageLoader, todo: dict[str, str], outcome: ScoringOutcome,
                         max_retries: int, advance: Callable[[int], None]) -> tuple[dict[str, ImageScore], dict[str, str]]:
    """Score each sha in `todo` (sha -> one ref holding those bytes); returns (sha -> score, sha -> failure)."""
    from evalharness.judging import describe_failure, retry_delay

    sem = asyncio.Semaphore(max(1, scorer.max_concurrency))
    done: dict[str, ImageScore] = {}
    failed: dict[str, str] = {}

    async def attempt_score(sha: str, ref: str) -> ImageScore | None:
        attempt = 0
        while True:
            try:
                return await scorer.score(loader.raw(ref))
            except (asyncio.CancelledError, EvalHarnessError):
                raise  # a wrong key or an unreachable provider stops the command; scores made so far are stored
            except ImageUnavailable as exc:
                failed[sha] = str(exc)
                return None
            except Exception as exc:  # noqa: BLE001 - one image's failure never stops the others
                if scorer.should_retry(exc) and attempt < max_retries:
                    await asyncio.sleep(retry_delay(exc, attempt))
                    attempt += 1
                    continue
                failed[sha] = describe_failure(exc)
                return None

    async def one(sha: str, ref: str) -> None:
        async with sem:
            s = await attempt_score(sha, ref)
            if s is not None:
                put_score(store, sha, scorer.scorer_id, s)
                done[sha] = s
                outcome.new += 1
                outcome.cost_usd += s.cost_usd
            advance(1)

    try:
        await asyncio.gather(*(one(sha, ref) for sha, ref in todo.items()))
    finally:
        await scorer.aclose()
    return done, failed


def score_images(project: Project, store: Store, scorer: ImageScorer, refs: Sequence[str], *, max_retries: int = 4,
                 stages: Stages | None = None) -> ScoringOutcome:
    """Scores of these images (cached or new); each distinct image's bytes scored at most once."""
    loader = ImageLoader(project)
    outcome = ScoringOutcome(scorer.scorer_id)
    outcome.hashes, outcome.failures = hash_images(store, loader, refs)
    cached = get_scores(store, list(outcome.hashes.values()), scorer.scorer_id)
    todo: dict[str, str] = {}
    for ref, sha in outcome.hashes.items():
        if sha not in cached:
            todo.setdefault(sha, ref)
    outcome.cached = len(set(outcome.hashes.values()) - set(todo))
    new: dict[str, ImageScore] = {}
    failed: dict[str, str] = {}
    if todo:
        with (stages or SilentStages()).stage("score images", len(todo)) as advance:
            new, failed = asyncio.run(_score_missing(scorer, store, loader, todo, outcome, max_retries, advance))
    by_sha = {**cached, **new}
    for ref, sha in outcome.hashes.items():
        if sha in by_sha:
            outcome.scores[ref] = by_sha[sha]
        else:
            outcome.failures[ref] = failed.get(sha, "not scored")
    return outcome
