"""A project is a folder: evalharness.toml, engines/, queries/, guidelines/, reports/."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from evalharness.config import EngineConfig, ProjectConfig, load_model, load_project_config
from evalharness.errors import EvalHarnessError
from evalharness.models import canonical_json, sha256_hex

CONFIG_FILE = "evalharness.toml"


@dataclass(frozen=True)
class LoadedEngine:
    """An engine configuration with its name and content hash."""

    name: str
    path: Path
    config: EngineConfig
    hash: str


@dataclass
class Project:
    """Paths and configuration of one evalharness project folder."""

    root: Path

    @classmethod
    def at(cls, ctx: Any) -> "Project":
        """The project a command runs in (`-C/--project`, else the current directory)."""
        return cls(ctx.obj["project"])

    def require(self) -> None:
        """Refuse to work outside a project, instead of creating .evalharness/ in a random folder."""
        if not (self.root / CONFIG_FILE).is_file():
            raise EvalHarnessError(f"{self.root} is not an evalharness project (no {CONFIG_FILE}); run the command in a "
                                   "project folder, pass -C/--project DIR, or create one with `evalharness init DIR`")

    @cached_property
    def config(self) -> ProjectConfig:
        self.require()
        return load_project_config(self.root)

    @property
    def cache_dir(self) -> Path:
        return self.root / ".evalharness"

    @property
    def engines_dir(self) -> Path:
        return self.root / "engines"

    @property
    def guidelines_dir(self) -> Path:
        return self.root / "guidelines"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def resolve(self, path: str | Path) -> Path:
        """A path from config or the command line, relative to the project root."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def store_url(self) -> str:
        """The store URL with a relative SQLite path resolved against the project root."""
        url = self.config.store.url
        prefix = "sqlite:///"
        if (url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:"
                and not url.startswith(prefix + "file:")):  # a `file:` URI (e.g. ?mode=ro&uri=true) is taken as written
            return prefix + str(self.resolve(url[len(prefix):]))
        return url

    def engine(self, name: str) -> LoadedEngine:
        """Load engines/<name>.toml (or a path to a TOML file)."""
        self.require()
        path = Path(name) if name.endswith(".toml") else self.engines_dir / f"{name}.toml"
        path = self.resolve(path)
        if not path.exists():
            available = sorted(p.stem for p in self.engines_dir.glob("*.toml")) if self.engines_dir.exists() else []
            hint = f"; available: {', '.join(available)}" if available else f"; create {path}"
            raise EvalHarnessError(f"engine config '{name}' not found at {path}{hint}")
        config = load_model(path, EngineConfig)
        digest = sha256_hex(canonical_json(config.model_dump(mode="json")))[:16]
        return LoadedEngine(name=path.stem, path=path, config=config, hash=digest)
