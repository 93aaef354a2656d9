"""The model families the VLM provider knows: one module each, registered in PROFILES.

Adding a profile: a module here with a `PROFILE` object (name, prompt, size, max_tokens, temperatures,
image_first, model_hints, parse) and one entry below. `choose_profile` takes PAGEMILL_VLM_PROFILE when set,
else the first profile whose hint is in the model name, else the generic markdown profile.
"""

from __future__ import annotations

from models.errors import ConfigError

from . import deepseek, dots, markdown, olmocr
from .base import Parsed, Profile, Region, Size, WrongFormat

__all__ = ["PROFILES", "choose_profile", "Parsed", "Profile", "Region", "Size", "WrongFormat"]

PROFILES: dict[str, Profile] = {
    "olmocr": olmocr.PROFILE,
    "dots": dots.PROFILE,
    "deepseek": deepseek.PROFILE,
    "markdown": markdown.PROFILE,
}
_ALIASES = {"olmocr2": "olmocr", "dots.ocr": "dots", "dots.mocr": "dots", "dotsocr": "dots",
            "deepseek-ocr": "deepseek", "generic": "markdown"}


def choose_profile(model: str, explicit: str | None = None) -> Profile:
    if explicit:
        key = explicit.strip().lower()
        key = _ALIASES.get(key, key)
        if key not in PROFILES:
            raise ConfigError(f"PAGEMILL_VLM_PROFILE: unknown profile {explicit!r}; choose one of "
                              f"{', '.join(sorted(PROFILES))}")
        return PROFILES[key]
    name = model.lower()
    for profile in PROFILES.values():
        if any(hint in name for hint in profile.model_hints):
            return profile
    return PROFILES["markdown"]
