"""Score many images with one scorer: hash each image's bytes, reuse cached scores, score the rest once each.

Images come from local paths or URLs (ImageLoader); the same bytes under several products or paths are
scored once. An unreadable image is listed as failed with its reason, never scored, never cached. Scores are
committed one by one as they arrive, so an interrupted run keeps what it paid for.

A process remembers what it read from the store: a file's hash under its (size, mtime) — each file is still
stat'ed every time, so a changed file is hashed again — and stored scores, which never change once stored (the
first score stored under a key wins). `evalharness demo` evaluates the same images a dozen times in one process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from evalharness.errors import EvalHarnessError
from evalharness.images.loading import ImageLoader, ImageUnavailable
from evalharness.images.scorers import ImageScore, ImageScorer
from evalharness.models import sha256_hex
from evalharness.pipeline.run import SilentStages, Stages
from evalharness.project import Project
from evalharness.runtime.pathtext import path_text
from evalharness.store import Store
from evalharness.store.image_scores import get_scores, known_file_hashes, put_score, remember_file_hashes


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


# (store url, path ref, size, mtime_ns) -> sha256 of the file's bytes, as read or learned by this process
_FILE_SHAS: dict[tuple[str, str, int, int], str] = {}
# (store url, scorer id) -> image sha256 -> the score stored under that key (only scores read back from the store)
_STORED_SCORES: dict[tuple[str, str], dict[str, ImageScore]] = {}


def stored_scores(store: Store, shas: Sequence[str], scorer_id: str) -> dict[str, ImageScore]:
    """The stored scores of these image hashes by this scorer (`get_scores`, each key read from the store once per
    process: a stored score never changes; keys not found are asked again next time)."""
    memo = _STORED_SCORES.setdefault((store.url, scorer_id), {})
    missing = [sha for sha in dict.fromkeys(shas) if sha not in memo]
    if missing:
        memo.update(get_scores(store, missing, scorer_id))
    return {sha: memo[sha] for sha in shas if sha in memo}


@lru_cache(maxsize=1 << 16)
def _local_path(ref: str) -> str | None:
    """The file a local reference names, as a string (a run's hits name the same images over and over)."""
    if not ref or ref.startswith(("http://", "https://")):
        return None
    return path_text(ref.removeprefix("file://"))


def hash_images(store: Store, loader: ImageLoader, refs: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(ref -> sha256 of its bytes, ref -> failure reason). Local files whose size and mtime are unchanged are not
    read again; the others are read (remote ones through the loader's disk cache) and remembered."""
    hashes: dict[str, str] = {}
    failures: dict[str, str] = {}
    stats: dict[str, tuple[int, int]] = {}
    url = store.url
    for ref in dict.fromkeys(refs):
        path = _local_path(ref)
        if path is not None:
            try:
                st = os.stat(path)
            except OSError as exc:
                failures[ref] = f"cannot read image {path} ({exc.strerror})"
                continue
            stats[ref] = (st.st_size, st.st_mtime_ns)
            sha = _FILE_SHAS.get((url, ref, st.st_size, st.st_mtime_ns))
            if sha is not None:
                hashes[ref] = sha
    unknown = {ref: st for ref, st in stats.items() if ref not in hashes}
    if unknown:
        found = known_file_hashes(store, unknown)
        hashes.update(found)
        _FILE_SHAS.update(((url, ref, *stats[ref]), sha) for ref, sha in found.items())
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
    _FILE_SHAS.update(((url, ref, size, mtime), sha) for ref, size, mtime, sha in learned)
    return hashes, failures


async def _score_missing(scorer: ImageScorer, store: Store, loader: ImageLoader, todo: dict[str, str], outcome: ScoringOutcome,
                         max_retries: int, advance: Callable[[int], None]) -> tuple[dict[str, ImageScore], dict[str, str]]:
    """Score each sha in `todo` (sha -> one ref holding those bytes); returns (sha -> score, sha -> failure)."""
    from evalharness.llm.retry import retry_delay
    from evalharness.pipeline.judging import describe_failure

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
    cached = stored_scores(store, list(outcome.hashes.values()), scorer.scorer_id)
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
