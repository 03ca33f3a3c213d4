"""Configuration: evalharness.toml (config.project), engines/NAME.toml (config.engine) and their loaders (config.base).

Every model forbids unknown keys; a validation error becomes one line naming the file, the key and what is allowed.
"""

from evalharness.config.base import Strict, describe_validation_error, env_secret, load_model, read_toml
from evalharness.config.engine import (
    BUILTIN_BACKENDS,
    HIT_FIELDS,
    ConnectionConfig,
    EngineConfig,
    FieldValueFactor,
    FileBackendConfig,
    HttpConfig,
    IndexMappingConfig,
    QueryConfig,
    TantivyConfig,
)
from evalharness.config.project import (
    DEFAULT_METRICS,
    DEFAULT_PRIVACY_PATTERNS,
    TRUST_STATISTICS,
    BehaviourConfig,
    ChecksConfig,
    CompareConfig,
    CustomLabel,
    GateConfig,
    GateRule,
    GuidelineConfig,
    ImagesConfig,
    JudgeConfig,
    LabelsConfig,
    PriceConfig,
    PrivacyConfig,
    ProjectConfig,
    RunConfig,
    StoreConfig,
    TrustConfig,
    load_project_config,
)

__all__ = [
    "BUILTIN_BACKENDS", "BehaviourConfig", "ChecksConfig", "CompareConfig", "ConnectionConfig", "CustomLabel",
    "DEFAULT_METRICS", "DEFAULT_PRIVACY_PATTERNS", "EngineConfig", "FieldValueFactor", "FileBackendConfig",
    "GateConfig", "GateRule", "GuidelineConfig", "HIT_FIELDS", "HttpConfig", "ImagesConfig", "IndexMappingConfig",
    "JudgeConfig", "LabelsConfig", "PriceConfig", "PrivacyConfig", "ProjectConfig", "QueryConfig", "RunConfig",
    "StoreConfig", "Strict", "TRUST_STATISTICS", "TantivyConfig", "TrustConfig", "describe_validation_error",
    "env_secret", "load_model", "load_project_config", "read_toml",
]
