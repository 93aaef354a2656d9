"""Where extraction sends its requests and which key it sends: its own settings, then the vision step's on the
same server, then MISTRAL_API_KEY, which only ever goes to api.mistral.ai."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from worker.extraction.settings import ExtractSettings

MISTRAL = SecretStr("sk-mistral")


def test_the_default_is_mistral_with_the_mistral_key() -> None:
    s = ExtractSettings()
    assert s.effective_base_url == "https://api.mistral.ai" and s.effective_model == "mistral-small-latest"
    assert s.effective_key(MISTRAL) is MISTRAL and s.limiter_name == "extract"


def test_the_vision_server_its_model_and_key_are_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_VISION_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("PAGEMILL_VISION_MODEL", "llava")
    monkeypatch.setenv("PAGEMILL_VISION_API_KEY", "sk-vision")
    s = ExtractSettings()
    assert s.effective_base_url == "http://127.0.0.1:11434/v1" and s.effective_model == "llava"
    key = s.effective_key(MISTRAL)
    assert key is not None and key.get_secret_value() == "sk-vision"
    assert s.limiter_name == "vision"  # one server, one limit


def test_own_settings_win_and_the_mistral_key_never_leaves_for_another_server(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGEMILL_VISION_BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("PAGEMILL_VISION_API_KEY", "sk-vision")
    monkeypatch.setenv("PAGEMILL_EXTRACT_BASE_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("PAGEMILL_EXTRACT_MODEL", "qwen")
    s = ExtractSettings()
    assert (s.effective_base_url, s.effective_model, s.limiter_name) == ("http://127.0.0.1:8000", "qwen", "extract")
    assert s.effective_key(MISTRAL) is None  # neither the vision key nor the Mistral key goes to :8000
    monkeypatch.setenv("PAGEMILL_EXTRACT_API_KEY", "sk-own")
    assert ExtractSettings().effective_key(MISTRAL).get_secret_value() == "sk-own"  # type: ignore[union-attr]
