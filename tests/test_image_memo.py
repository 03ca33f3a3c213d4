"""What a process remembers of images (hashes, stored scores, thumbnails): a changed file is hashed, scored and
encoded again, a stored score is read from the store once."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import make_project
from sqlalchemy import event

from evalharness.images.loading import ImageLoader
from evalharness.images.scorers import make_scorer
from evalharness.images.scoring import hash_images, score_images, stored_scores
from evalharness.models import sha256_hex
from evalharness.project import Project
from evalharness.store import Store


def _statements(store: Store) -> list[str]:
    """The SQL statements SQLite runs for the store from now on (SQLAlchemy's and those sent straight to the driver's
    cursor): traced on each connection the engine hands out from now on."""
    seen: list[str] = []
    event.listen(store.engine, "checkout", lambda dbapi_conn, record, proxy: dbapi_conn.set_trace_callback(seen.append))
    return seen


def test_a_file_changed_in_the_same_process_is_hashed_and_scored_again(tmp_path: Path, demo_dir: Path) -> None:
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=1))
    store = Store(project.store_url())
    image = tmp_path / "photo.png"
    first_bytes = (demo_dir / "images" / "P00001.png").read_bytes()
    image.write_bytes(first_bytes)
    scorer = make_scorer("offline", project.config)
    first = score_images(project, store, scorer, [str(image)])
    assert first.hashes[str(image)] == sha256_hex(first_bytes) and first.new == 1

    second_bytes = (demo_dir / "images" / "P00002.png").read_bytes()
    image.write_bytes(second_bytes)
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new mtime even on a coarse clock
    hashes, failures = hash_images(store, ImageLoader(project), [str(image)])
    assert not failures and hashes[str(image)] == sha256_hex(second_bytes)
    again = score_images(project, store, scorer, [str(image)])
    assert again.new == 1 and again.hashes[str(image)] == sha256_hex(second_bytes)

    image.unlink()
    _, failures = hash_images(store, ImageLoader(project), [str(image)])
    assert str(image) in failures  # a file gone since is reported, not answered from memory
    store.close()


def test_stored_scores_are_read_once_and_unknown_keys_asked_again(tmp_path: Path, demo_dir: Path) -> None:
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=1))
    store = Store(project.store_url())
    refs = [str(demo_dir / "images" / f"P0000{i}.png") for i in range(3)]
    scorer = make_scorer("offline", project.config)
    scored = score_images(project, store, scorer, refs[:2])
    shas = [scored.hashes[r] for r in refs[:2]]
    unknown = sha256_hex(b"never scored")

    sent = _statements(store)
    first = stored_scores(store, [*shas, unknown], scorer.scorer_id)
    assert set(first) == set(shas) and all(first[s] == scored.scores[r] for s, r in zip(shas, refs))
    reads = [sql for sql in sent if "image_scores" in sql]
    assert len(reads) == 1
    sent.clear()
    assert stored_scores(store, shas, scorer.scorer_id) == {s: first[s] for s in shas}
    assert not [sql for sql in sent if "image_scores" in sql]  # known keys come from memory
    stored_scores(store, [unknown], scorer.scorer_id)
    assert len([sql for sql in sent if "image_scores" in sql]) == 1  # a key not stored yet is asked again
    store.close()


def test_a_changed_image_gets_a_new_thumbnail_in_the_same_process(tmp_path: Path, demo_dir: Path) -> None:
    from evalharness.report.html import thumbnail

    image, thumbs = tmp_path / "photo.png", tmp_path / "thumbs"
    first_src, second_src = demo_dir / "images" / "P00001.png", demo_dir / "images" / "P00002.png"
    image.write_bytes(first_src.read_bytes())
    first = thumbnail(str(image), cache_dir=thumbs)
    assert first is not None and first == thumbnail(str(image), cache_dir=thumbs) == thumbnail(str(first_src))
    image.write_bytes(second_src.read_bytes())
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = thumbnail(str(image), cache_dir=thumbs)
    assert second == thumbnail(str(second_src)) and second != first
    assert len(list(thumbs.rglob("*.txt"))) == 2  # each version encoded once and kept on disk
    image.unlink()
    assert thumbnail(str(image), cache_dir=thumbs) is None


def test_images_with_the_same_bytes_are_encoded_once_for_a_report(tmp_path: Path, demo_dir: Path) -> None:
    """prefetch_thumbnails encodes one thumbnail per distinct image bytes (a catalog repeats photos): the other
    files get the very same thumbnail, and a changed file is encoded for itself."""
    import shutil

    from evalharness.report import html

    source = sorted((demo_dir / "images").glob("*.png"))[:2]
    same = [tmp_path / f"same{i}.png" for i in range(3)]
    for path in same:
        shutil.copy(source[0], path)
    other = tmp_path / "other.png"
    shutil.copy(source[1], other)
    refs = [str(p) for p in (*same, other)]
    shas = {ref: sha256_hex(Path(ref).read_bytes()) for ref in refs}
    cache = tmp_path / "thumbs"
    html.prefetch_thumbnails(refs, cache, shas)
    assert len(list(cache.rglob("*.txt"))) == 2  # encoded: one of the three copies, and the other photo
    urls = [html.thumbnail(ref, cache_dir=cache) for ref in refs]
    assert urls[0] == urls[1] == urls[2] == html._encode(same[2], html.THUMB_SIDE) != urls[3]
    shutil.copy(source[1], same[1])  # changed: its own thumbnail again (its size and mtime key the memo)
    os.utime(same[1], ns=(1, 1))
    assert html.thumbnail(str(same[1]), cache_dir=cache) == urls[3]
