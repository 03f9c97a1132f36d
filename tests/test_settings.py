"""Settings come from the environment on every call, with documented defaults and fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import DEFAULT_PRICES, ModelPrice, get_settings


def test_defaults(absorb_home: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("ABSORB_TRIAGE_MODEL", "ABSORB_DRAFT_MODEL", "ABSORB_JUDGE_MODEL",
                 "ABSORB_EDITOR_TOKENS", "ABSORB_PRICES", "ABSORB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.model == "gpt-4.1-mini"
    assert settings.structured_method == "json_schema"
    assert (settings.timeout, settings.max_retries, settings.concurrency) == (60.0, 3, 8)
    assert (settings.requests_per_second, settings.token_budget) == (10.0, 200_000)
    assert settings.max_output_tokens == 2000
    assert settings.editor_tokens == [] and settings.fetch_allow_private is False
    assert settings.openai_api_key is None and settings.openai_base_url is None
    assert settings.database_url == f"sqlite:///{absorb_home / 'absorb.db'}"


def test_home_is_created_on_first_use_not_on_read(absorb_home: Path):
    settings = get_settings()
    assert settings.home_dir == absorb_home and not absorb_home.exists()
    assert settings.home == absorb_home and absorb_home.is_dir()


def test_home_expands_the_user_directory(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_HOME", "~/absorb-test-home")
    assert get_settings().home_dir == Path.home() / "absorb-test-home"


def test_the_environment_is_read_on_every_call(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_TIMEOUT", "5")
    assert get_settings().timeout == 5.0
    monkeypatch.setenv("ABSORB_TIMEOUT", "7.5")
    assert get_settings().timeout == 7.5
    assert get_settings(timeout=1).timeout == 1.0


def test_openai_variables_have_no_prefix_and_blank_means_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    settings = get_settings()
    assert settings.openai_api_key == "sk-test"
    assert settings.openai_base_url == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    assert get_settings().openai_api_key is None


def test_role_models_fall_back_to_the_default_model(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_MODEL", "base-model")
    monkeypatch.setenv("ABSORB_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("ABSORB_TRIAGE_MODEL", "")
    monkeypatch.delenv("ABSORB_DRAFT_MODEL", raising=False)
    settings = get_settings()
    assert settings.model_for("judge") == "judge-model"
    assert settings.model_for("triage") == "base-model"
    assert settings.model_for("draft") == "base-model"
    assert settings.model_for("rewrite") == "base-model"


def test_database_url_can_point_elsewhere(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_DATABASE_URL", "postgresql+psycopg://u@db/absorb")
    assert get_settings().database_url == "postgresql+psycopg://u@db/absorb"


def test_editor_tokens_are_comma_separated(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_EDITOR_TOKENS", "alpha, beta,,gamma ")
    assert get_settings().editor_tokens == ["alpha", "beta", "gamma"]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_STRUCTURED_METHOD", "json_mode")
    with pytest.raises(ValueError, match="^ABSORB_STRUCTURED_METHOD=json_mode is not valid"):
        get_settings()
    monkeypatch.setenv("ABSORB_STRUCTURED_METHOD", "function_calling")
    monkeypatch.setenv("ABSORB_FETCH_ALLOW_PRIVATE", "true")
    settings = get_settings()
    assert settings.structured_method == "function_calling" and settings.fetch_allow_private


def test_prices_merge_over_defaults_and_unknown_models_are_free(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_PRICES", '{"local-llama": {"input": 0.01, "output": 0.02}}')
    settings = get_settings()
    assert settings.price_for("local-llama") == ModelPrice(input=0.01, output=0.02, cached=0.0)
    assert settings.price_for("gpt-4.1-mini") == DEFAULT_PRICES["gpt-4.1-mini"]
    # Dated snapshots bill as their family; the longest matching name wins.
    assert settings.price_for("gpt-4.1-mini-2025-04-14") == DEFAULT_PRICES["gpt-4.1-mini"]
    assert settings.price_for("mystery-model") == ModelPrice()


def _reference_class():
    """Settings as pydantic-settings read them before absorb read the environment itself (to
    save pydantic-settings' start-up): the same fields and validators on BaseSettings."""
    from typing import Annotated

    from pydantic import Field
    from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

    from agent.settings import Settings

    class PydanticSettings(BaseSettings, Settings):
        model_config = SettingsConfigDict(env_prefix="ABSORB_", extra="ignore", populate_by_name=True)
        editor_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)

    return PydanticSettings


_VALUES = ["", " ", "abc", "0", "-1", "2.5", "7", "true", "no", "json_schema", "function_calling",
           "lexical", "extract", "additions", '{"m": {"input": 1, "output": 2}}', "[1]", "{bad",
           "a, b,,c", "sqlite:////tmp/x.db", "mysql://u@h/db", "garbage", "~/h", "gpt-5"]


def _outcome(make):
    from pydantic import ValidationError
    from pydantic_settings import SettingsError as SourceError

    from agent.settings import SettingsError

    try:
        return "ok", make().model_dump()
    except SettingsError as exc:
        return "error", str(exc)
    except ValidationError as exc:
        return "error", str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    except SourceError:
        return "error", "is not valid JSON"


def test_the_environment_is_read_as_pydantic_settings_read_it(monkeypatch: pytest.MonkeyPatch):
    """Every field, under each variable name that may set it (any case), with plain, numeric,
    JSON, empty and malformed values: the same settings, or an error for the same reason."""
    import os

    from agent.settings import Settings, _lookup_names

    reference = _reference_class()
    compared = 0
    for field in Settings.model_fields:
        names = _lookup_names(field)
        spellings = {names[0].upper(), names[0], *(name.upper() for name in names[1:])}
        for name in sorted(spellings):
            for value in _VALUES:
                with monkeypatch.context() as patch:
                    for key in list(os.environ):
                        if key.upper().startswith(("ABSORB_", "OPENAI_")):
                            patch.delenv(key)
                    patch.setenv(name, value)
                    mine, theirs = _outcome(get_settings), _outcome(reference)
                assert mine[0] == theirs[0], (name, value, mine, theirs)
                if mine[0] == "ok":
                    assert mine == theirs, (name, value)
                else:
                    assert mine[1].endswith(theirs[1]), (name, value, mine, theirs)
                    assert mine[1].split("=")[0] in {n.upper() for n in names}, mine
                compared += 1
    assert compared > 500


def test_an_alias_is_tried_before_the_field_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ABSORB_HOME_DIR", str(tmp_path / "by-name"))
    monkeypatch.setenv("ABSORB_HOME", str(tmp_path / "by-alias"))
    assert get_settings().home_dir == tmp_path / "by-alias" == _reference_class()().home_dir
    monkeypatch.delenv("ABSORB_HOME")
    assert get_settings().home_dir == tmp_path / "by-name" == _reference_class()().home_dir
