"""Every setting is documented in `.env.example` with its default (the README points there)."""

from __future__ import annotations

import re
from pathlib import Path

from tradewire.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_every_setting_is_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set()


def test_limit_and_cookie_defaults_match_env_example() -> None:
    values = dict(re.findall(r"^([A-Z_]+)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.M))
    defaults = Settings(_env_file=None)
    assert values["COOKIE_SECURE"] == defaults.cookie_secure == "auto"
    assert values["CORS_ORIGINS"] == "" and defaults.cors_origins == []
    for name in ("MAX_BODY_BYTES", "MAX_AUTH_BODY_BYTES", "MAX_ORDER_BODY_BYTES"):
        assert int(values[name]) == getattr(defaults, name.lower()), name
