"""guidelines/<query-slug>.md: YAML front matter (query, requirements, writer, model, created) + text.

Existing files are used as they are, so a human edit wins; what the judge reads of the file (query, requirements,
text: `guideline_hash`) is hashed into every judgment's cache key, so editing one guideline re-judges only that
query, while a rewrite that changes only `created:` (or writer, model, digest) re-judges nothing. The front matter's
`digest` is what the writer wrote: `guidelines regenerate` rewrites only files that still match it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalharness.errors import EvalHarnessError
from evalharness.models import IMPORTANCE, Guideline, Requirement, canonical_json, sha256_hex
from evalharness.runtime.pathtext import under
from evalharness.textnorm import slugify


class BadYaml(ValueError):
    """Front matter that is not valid YAML (PyYAML's error, first line)."""


def _load_yaml(text: str):  # noqa: ANN202 - whatever the YAML holds
    """The YAML document (PyYAML imported here: a run that reads every guideline from the store never needs it)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: the same documents, ~10x faster
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise BadYaml(str(exc).splitlines()[0]) from None


def guideline_path(directory: Path, query: str) -> Path:
    return directory / f"{slugify(query)}.md"


def guideline_path_text(directory: Path, query: str) -> str:
    """`str(guideline_path(directory, query))` without a Path per query (a command reads thousands)."""
    return under(directory, f"{slugify(query)}.md")


def content_digest(requirements: Sequence[Requirement], text: str) -> str:
    """A digest of what a writer produced (requirements and text), stored in the file to tell a human edit."""
    reqs = [[str(r.attribute), str(r.value), str(r.importance)] for r in requirements]
    return sha256_hex(canonical_json({"requirements": reqs, "text": text.strip()}))[:16]


def guideline_hash(query: str, requirements: Sequence[Requirement], text: str) -> str:
    """The guideline's identity in cache keys: what a judge reads of it (query, requirements, text), nothing else."""
    reqs = [[str(r.attribute), str(r.value), str(r.importance)] for r in requirements]
    return sha256_hex(canonical_json({"query": query, "requirements": reqs, "text": text.strip()}))


def render_guideline(g: Guideline) -> str:
    """The file text for a guideline; `digest` records what the writer wrote, so a later edit can be recognised."""
    front = {
        "query": g.query,
        "requirements": [{"attribute": r.attribute, "value": r.value, "importance": r.importance} for r in g.requirements],
        "writer": g.writer,
        "model": g.model,
        "created": g.created,
        "digest": content_digest(g.requirements, g.text),
    }
    import yaml

    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n{g.text.strip()}\n"


def is_edited(path: Path) -> bool:
    """True when a person wrote or changed the file: its content no longer matches the digest its writer recorded
    (files without a digest, or with writer 'human', count as edited)."""
    g = parse_guideline(path)
    front = _load_yaml(path.read_text(encoding="utf-8", errors="replace").split("\n---", 1)[0][3:]) or {}
    return g.writer == "human" or front.get("digest") != content_digest(g.requirements, g.text)


_PARSED: dict[tuple[str, str], Guideline] = {}  # (path, sha256 of its bytes) -> the guideline, the newest few
_PARSED_MAX = 1024  # bounded: a run over many queries reads its guidelines from the store by file hash instead


def parse_guideline(path: Path) -> Guideline:
    """Read and validate one guideline file (the file is read each time; its YAML parsed once per content, among the
    versions parsed last)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalHarnessError(f"cannot read guideline {path}: {exc.strerror}") from None
    key = (str(path), sha256_hex(raw))
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) >= _PARSED_MAX:  # the oldest out: memory stays flat however many files a command reads
            del _PARSED[next(iter(_PARSED))]
        found = _PARSED[key] = _parse(path, raw, key[1])
    return found


def file_hash(path: Path) -> str:
    """The sha256 of a guideline file's bytes: its `Guideline.file_hash`."""
    try:
        return sha256_hex(path.read_bytes())
    except OSError as exc:
        raise EvalHarnessError(f"cannot read guideline {path}: {exc.strerror}") from None


def file_digest(path: str | Path) -> str:
    """`file_hash` of a file that may not exist yet: '' when it does not."""
    try:
        with open(path, "rb", buffering=0) as fh:  # unbuffered: one read of a small file, no buffer object
            return sha256_hex(fh.read())
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise EvalHarnessError(f"cannot read guideline {path}: {exc.strerror}") from None


def stored_guideline(row: dict[str, Any], digest: str, path: Path) -> Guideline:
    """The guideline file whose bytes hash to `digest` from what the store recorded when it was first parsed (the same
    bytes give the same guideline, so its YAML is not parsed again); only the front matter's `created` is left empty."""
    reqs = tuple(Requirement(str(r["attribute"]), str(r["value"]), str(r["importance"])) for r in row["requirements"])
    return Guideline(query=row["query"], requirements=reqs, text=row["text"], writer=row["writer"], model=row["model"] or "",
                     hash=row.get("hash") or guideline_hash(row["query"], reqs, row["text"]), path=str(path), file_hash=digest)


def _parse(path: Path, raw: bytes, digest: str) -> Guideline:
    text = raw.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        raise EvalHarnessError(f"{path}: a guideline starts with '---' YAML front matter; restore it or delete the file to rewrite it")
    parts = text.split("\n---", 2)
    if len(parts) < 2:
        raise EvalHarnessError(f"{path}: front matter is not closed with '---'")
    try:
        front = _load_yaml(parts[0][3:]) or {}
    except BadYaml as exc:
        raise EvalHarnessError(f"{path}: front matter is not valid YAML ({exc})") from None
    if not isinstance(front, dict) or not front.get("query"):
        raise EvalHarnessError(f"{path}: front matter needs 'query'")
    if isinstance(front["query"], (dict, list)):
        raise EvalHarnessError(f"{path}: 'query' is the query's text, not a list or mapping")
    listed = front.get("requirements") or []
    if not isinstance(listed, list):
        raise EvalHarnessError(f"{path}: 'requirements' is a list of entries with attribute, value and importance")
    reqs = []
    for i, r in enumerate(listed):
        if not isinstance(r, dict) or not r.get("attribute") or r.get("value") in (None, "") or any(
                isinstance(r.get(k), (dict, list)) for k in ("attribute", "value", "importance")):
            raise EvalHarnessError(f"{path}: requirement {i + 1} needs 'attribute' and 'value' (each a word or phrase)")
        importance = str(r.get("importance", "must"))
        if importance not in IMPORTANCE:
            raise EvalHarnessError(f"{path}: requirement {i + 1} has importance {importance!r}; allowed: {', '.join(IMPORTANCE)}")
        reqs.append(Requirement(str(r["attribute"]), str(r["value"]), importance))
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    query, text = str(front["query"]), body.strip()
    return Guideline(
        query=query, requirements=tuple(reqs), text=text, writer=str(front.get("writer", "human")),
        model=str(front.get("model") or ""), created=str(front.get("created") or ""),
        hash=guideline_hash(query, reqs, text), path=str(path), file_hash=digest,
    )


def write_guideline(directory: Path, g: Guideline, overwrite: bool = False) -> Guideline:
    """Write a guideline file atomically and return it (as on disk) with its hash and path.

    Without `overwrite` an existing file is never replaced: when two runs write the same query's guideline
    at once, the first file wins and both use it (so both judge against the same guideline hash)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = guideline_path(directory, g.query)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_guideline(g))
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails instead of replacing a file someone else wrote
            except FileExistsError:
                pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return parse_guideline(path)
