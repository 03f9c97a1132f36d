"""Process settings for absorb, read from the environment (ABSORB_*, OPENAI_*) on each call.

The variables are read here, not by pydantic-settings: importing it cost every command about
60 ms of start-up. The lookup is the one pydantic-settings made (tests/test_settings.py
compares the two): a field's variable is ABSORB_ + its name, or one of its aliases
(ABSORB_HOME, OPENAI_API_KEY ...) tried first; names match in any case; ABSORB_PRICES holds
JSON; pydantic validates every value, defaults included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_HOME = Path("~/.local/share/absorb")
MODEL_ROLES = ("triage", "draft", "judge")


class SettingsError(ValueError):
    """A setting in the environment is malformed: the message names the variable."""

    code = 2


class ModelPrice(BaseModel):
    """USD per one million tokens."""

    input: float = 0.0
    output: float = 0.0
    cached: float = 0.0


# Public list prices at the time of writing; ABSORB_PRICES overrides them per model.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4.1": ModelPrice(input=2.00, output=8.00, cached=0.50),
    "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cached=0.10),
    "gpt-4.1-nano": ModelPrice(input=0.10, output=0.40, cached=0.025),
    "gpt-4o": ModelPrice(input=2.50, output=10.00, cached=1.25),
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cached=0.075),
    "gpt-5": ModelPrice(input=1.25, output=10.00, cached=0.125),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.00, cached=0.025),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.40, cached=0.005),
}


ENV_PREFIX = "ABSORB_"
# Fields whose variable holds a JSON document rather than a plain value.
JSON_FIELDS = frozenset({"prices"})


class Settings(BaseModel):
    """Everything an operator can set; tests isolate themselves with monkeypatch.setenv.
    `get_settings()` reads them from the environment."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, validate_default=True)

    home_dir: Path = Field(DEFAULT_HOME, validation_alias=AliasChoices("ABSORB_HOME", "home_dir"),
                           description="Where all state lives; see `home`.")
    database_url_override: str | None = Field(
        None, validation_alias=AliasChoices("ABSORB_DATABASE_URL", "database_url_override"),
        description="SQLAlchemy URL; default is a SQLite file under home.")
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"))
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="Any OpenAI-compatible server: vLLM, llama.cpp, Ollama, LM Studio.")

    model: str = "gpt-4.1-mini"
    triage_model: str | None = None
    draft_model: str | None = None
    judge_model: str | None = None
    structured_method: Literal["json_schema", "function_calling"] = "json_schema"
    draft_mode: Literal["section", "additions", "extract"] = Field(
        "section", description="section: the model returns the whole updated section (it may "
        "reorder, update or remove); additions: only new sentences, appended (small models); "
        "extract: the model picks source sentences by id and code inserts them verbatim, "
        "verified in code without a judge call (tiny models).")
    max_revisions: int = Field(2, ge=0, le=5, description="Times a section's draft is revised "
                               "with the gate's failures fed back before they are dropped.")
    draft_max_sources: int = Field(20, ge=0, description="Sources one section's draft takes, "
                                   "the most relevant first; the rest stay new for the next run. "
                                   "0 = no limit.")
    triage_mode: Literal["llm", "lexical"] = Field(
        "llm", description="lexical: route sources to sections by shared words, no model call "
        "(for models too small to triage, and to save tokens).")

    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request to the model.")
    section_timeouts: bool = Field(False, description="A section's model call that times out "
                                   "holds back that section only and the run goes on (on for "
                                   "the bundled local server); off: a timeout fails the run.")
    max_retries: int = Field(3, ge=0, description="Retries of transient errors, per call.")
    retry_initial_delay: float = Field(1.0, ge=0, description="First backoff, seconds.")
    retry_max_delay: float = Field(20.0, ge=0, description="Longest single backoff, seconds.")
    retry_deadline: float = Field(300.0, gt=0, description="No retry starts after this many "
                                  "seconds since the first attempt of a call.")
    drain_grace: float = Field(20.0, ge=0, description="On SIGTERM or a first Ctrl-C, seconds "
                               "model calls in flight may still finish before they are cancelled.")
    concurrency: int = Field(8, ge=1, description="Model calls in flight per event loop.")
    requests_per_second: float = Field(10.0, ge=0, description="0 disables the rate limiter.")
    token_budget: int = Field(200_000, ge=0, description="Input+output tokens per run; 0 = no limit.")
    batch_budget_tokens: int = Field(0, ge=0, description="Input+output tokens for one "
                                     "`refresh --all` night; 0 = no limit.")
    max_output_tokens: int = Field(2000, ge=1)
    prices: dict[str, ModelPrice] = Field(default_factory=dict,
                                          description="Merged over DEFAULT_PRICES.")

    editor_tokens: list[str] = Field(default_factory=list)  # comma-separated in the environment
    fetch_allow_private: bool = False

    @field_validator("database_url_override", mode="after")
    @classmethod
    def _database_url_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import sqlalchemy as sa

        try:
            backend = sa.engine.make_url(value).get_backend_name()
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several kinds
            raise ValueError("not a database URL (e.g. postgresql+psycopg://user@host/db or "
                             "sqlite:////path/absorb.db)") from exc
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"absorb stores its data in SQLite or PostgreSQL, not {backend}")
        return value

    @field_validator("home_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("openai_api_key", "openai_base_url", "database_url_override", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `export OPENAI_API_KEY=` must mean "not configured", not "the empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("triage_model", "draft_model", "judge_model", mode="before")
    @classmethod
    def _blank_model_falls_back(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("editor_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("prices", mode="after")
    @classmethod
    def _merge_default_prices(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        return {**DEFAULT_PRICES, **value}

    @property
    def home(self) -> Path:
        """The state directory, created on first use so merely reading settings has no effect."""
        try:
            self.home_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise SettingsError(f"ABSORB_HOME={self.home_dir} is not a folder: "
                                "point it at a directory (it is created if missing)") from exc
        except PermissionError as exc:
            raise SettingsError(f"ABSORB_HOME={self.home_dir} cannot be created: permission "
                                "denied") from exc
        return self.home_dir

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite:///{self.home / 'absorb.db'}"

    def model_for(self, role: str) -> str:
        """Model name for a role (triage, draft, judge); other roles use ABSORB_MODEL."""
        specific = getattr(self, f"{role}_model", None) if role in MODEL_ROLES else None
        return specific or self.model

    def price_for(self, model: str) -> ModelPrice:
        """Exact name first, else the longest known prefix (dated snapshots); unknown is free."""
        prices = self.prices or DEFAULT_PRICES
        if model in prices:
            return prices[model]
        prefixes = [name for name in prices if model.startswith(name + "-")]
        if prefixes:
            return prices[max(prefixes, key=len)]
        return ModelPrice()


def _variable(field: str) -> str:
    if field.startswith(("ABSORB_", "OPENAI_")):
        return field
    info = Settings.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"ABSORB_{field.upper()}"


def _lookup_names(field: str) -> list[str]:
    """The variables that may set a field, in the order they are tried, lower-cased: its
    aliases as written (ABSORB_HOME, OPENAI_API_KEY), then ABSORB_ + the field's name."""
    alias = Settings.model_fields[field].validation_alias
    names = [str(choice) for choice in alias.choices] if isinstance(alias, AliasChoices) else []
    return [name.lower() for name in (*names, ENV_PREFIX + field)]


def _from_environment() -> dict[str, object]:
    """The fields the environment sets, as raw strings (JSON fields decoded)."""
    environ = {key.lower(): value for key, value in os.environ.items()}  # any case matches
    values: dict[str, object] = {}
    for field in Settings.model_fields:
        value = next((environ[name] for name in _lookup_names(field) if name in environ), None)
        if value is None:
            continue
        if field in JSON_FIELDS:
            try:
                value = json.loads(value)
            except ValueError:
                name = _variable(field)
                raise SettingsError(f"{name}={os.environ.get(name, '')} is not valid JSON") from None
        values[field] = value
    return values


def get_settings(**overrides: object) -> Settings:
    """Fresh settings from the current environment; keyword overrides win over it.

    A malformed variable is a SettingsError whose one line names the variable and the value.
    """
    try:
        return Settings(**{**_from_environment(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        name = _variable(field)
        value = os.environ.get(name, first.get("input"))
        reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise SettingsError(f"{name}={value!s} is not valid: {reason}") from None
