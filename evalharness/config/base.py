"""The config models' shared base (unknown keys rejected) and the loaders: TOML read, validation errors as one
line naming the file and key, secrets from the environment."""

from __future__ import annotations

import os

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from evalharness.errors import EvalHarnessError, register_secret


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")



def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        current = _model_of(field.annotation)
    return sorted(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def describe_validation_error(path: Path | str, model: type[BaseModel], exc: ValidationError) -> str:
    """Turn the first pydantic error into one actionable line."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown key '{key}'{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{path}: key '{key}': {msg}{more}"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into one line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise EvalHarnessError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalHarnessError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except UnicodeDecodeError as exc:
        raise EvalHarnessError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); TOML files are UTF-8, re-save it so") from None


def load_model(path: Path, model: type[BaseModel], data: dict[str, Any] | None = None) -> Any:
    """Validate TOML data against a model; errors name the file and the key."""
    raw = read_toml(path) if data is None else data
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise EvalHarnessError(describe_validation_error(path, model, exc)) from None


def env_secret(var: str, purpose: str) -> str:
    """Read a secret from the environment variable named in config; never log its value."""
    value = os.environ.get(var, "")
    if not value:
        raise EvalHarnessError(f"{purpose} needs the environment variable {var}; export {var}=... and run again")
    register_secret(value)
    return value
