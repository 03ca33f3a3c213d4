"""Product catalogs as JSON lines, and the mapping from a product to a Hit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalharness.errors import EvalHarnessError
from evalharness.models import ATTRIBUTE_FIELDS, Hit, sha256_hex
from evalharness.runtime.pathtext import under

if TYPE_CHECKING:
    from evalharness.project import Project



def not_utf8(path: Path, lineno: int, exc: UnicodeDecodeError, what: str) -> EvalHarnessError:
    """One line naming the file, the line and the fix for text that is not UTF-8."""
    return EvalHarnessError(f"{path}:{lineno}: the {what} is not UTF-8 (byte 0x{exc.object[exc.start]:02x}); re-save it "
                            f"as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path.name} > fixed.{path.suffix.lstrip('.')}`")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 file; errors name the file and the line."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise EvalHarnessError(f"cannot read catalog {path}: {exc.strerror}; pass an existing JSONL file") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise not_utf8(path, lineno, exc, "catalog") from None
            if line.strip():
                yield lineno, line


def iter_products(path: Path) -> Iterator[dict[str, Any]]:
    """Yield products from a JSONL file; each needs an 'id', and no id may appear twice."""
    seen: set[str] = set()
    for lineno, line in _lines(path):
        try:
            product = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalHarnessError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(product, dict) or "id" not in product:
            raise EvalHarnessError(f"{path}:{lineno}: a product needs an 'id' field")
        pid = str(product["id"])
        if pid in seen:
            raise EvalHarnessError(f"{path}:{lineno}: product id {pid[:80]!r} appears a second time; ids must be unique "
                                   "(remove or rename one of the two)")
        seen.add(pid)
        yield product


def count_products(path: Path) -> int:
    """How many non-blank lines a catalog has (checked for UTF-8 on the way)."""
    return sum(1 for _ in _lines(path))


def product_type_of(product: dict[str, Any]) -> str:
    """The product type: an explicit field, else the leaf of the category path."""
    explicit = product.get("product_type") or (product.get("attributes") or {}).get("product_type")
    if explicit:
        return str(explicit)
    category = str(product.get("category") or "")
    return category.split(">")[-1].strip() if category else ""


def field_text(product: dict[str, Any], name: str) -> str:
    """A product field as indexable text."""
    if name == "product_type":
        return product_type_of(product)
    value = product.get(name)
    if value is None:
        value = (product.get("attributes") or {}).get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def product_to_hit(product: dict[str, Any], rank: int, score: float, base_dir: Path | None = None) -> Hit:
    """Build a Hit from a catalog product; a relative image path is resolved against base_dir."""
    image = str(product.get("image_url") or product.get("image") or "")
    if image and base_dir is not None and "://" not in image:
        image = under(base_dir, image)  # a relative path, against base_dir (pathlib's text, without a Path each)
    attributes = dict(product.get("attributes") or {})
    for name in ATTRIBUTE_FIELDS:
        if product.get(name) not in (None, ""):
            attributes[name] = product[name]
    if "product_type" not in attributes:
        ptype = product_type_of(product)
        if ptype:
            attributes["product_type"] = ptype
    price = product.get("price")
    description = str(product.get("description") or "")
    bullets = product.get("bullet_points")
    if bullets and not description:
        description = bullets if isinstance(bullets, str) else " ".join(bullets)
    return Hit(
        doc_id=str(product["id"]),
        rank=rank,
        score=float(score),
        title=str(product.get("title") or ""),
        description=description,
        brand=str(product.get("brand") or ""),
        color=str(product.get("color") or ""),
        category=str(product.get("category") or ""),
        price=float(price) if isinstance(price, (int, float)) else None,
        image_url=image,
        attributes=attributes,
    )


def resolve_catalog(project: "Project", catalog: str) -> Path:
    """'demo' means the generated demo catalog; anything else is a JSONL path relative to the project."""
    if catalog == "demo":
        from evalharness.sample import ensure_demo_catalog

        return ensure_demo_catalog(project.cache_dir).products
    path = project.resolve(catalog)
    if not path.exists():
        raise EvalHarnessError(f"catalog {path} not found; pass a JSONL file of products or 'demo'")
    return path


def file_sha256(path: Path) -> str:
    """Content hash of a file."""
    return sha256_hex(path.read_bytes())
