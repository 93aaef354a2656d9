"""Which names in a folder are never documents: the one list, used alike by `submit`/`run` of a folder
(`scheduler/launch/submit.py` `expand_paths`) and by a watched folder (`scheduler/watch/folder.py`).

Skipped, case-insensitively, in any folder given to submit or watched:
- dot files and dot folders: `.DS_Store`, macOS `._name` resource forks, `.git/`, `.Trash-1000/` ...;
- the temporary names browsers, editors and copy tools write to before renaming: `*.part`, `*.filepart`,
  `*.crdownload`, `*.tmp`, Office's `~$report.docx`;
- the clutter operating systems and NAS boxes leave behind: `Thumbs.db`, `desktop.ini`, `@eaDir/` (Synology),
  `__MACOSX/` (zip archives made on a Mac).

A rule that matches any part of the path relative to the folder (a folder or the file) ignores the file, so
nothing under `@eaDir/` or `.git/` is taken either. A file named on the command line is always taken. A watched
folder adds its own patterns (`watch --ignore`) and never reads back the folders it writes to itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import PurePath

__all__ = ["DEFAULT_IGNORE_PATTERNS", "IgnoreRules"]

DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = (
    ".*",  # dot files and folders, incl. macOS `._name` resource forks and `.DS_Store`
    "*.part",
    "*.filepart",
    "*.crdownload",
    "*.tmp",
    "~$*",
    "Thumbs.db",
    "desktop.ini",
    "@eaDir",
    "__MACOSX",
)


class IgnoreRules:
    """fnmatch patterns, case-insensitive, tried on each part of a path relative to the watched folder.

    A pattern containing `/` is matched against the whole relative path instead (e.g. `scans/drafts/*`)."""

    def __init__(self, extra: Iterable[str] = (), reserved_dirs: Iterable[str] = ()) -> None:
        patterns = [*DEFAULT_IGNORE_PATTERNS, *(p.strip() for p in extra if p.strip())]
        self._part_patterns = [p.lower() for p in patterns if "/" not in p]
        self._path_patterns = [p.strip("/").lower() for p in patterns if "/" in p]
        # top-level folders pagemill itself writes to (processed/, failed/): never read back as input
        self._reserved = {d.lower() for d in reserved_dirs}

    def ignored(self, relpath: PurePath) -> bool:
        parts = [p.lower() for p in relpath.parts]
        if not parts:
            return True
        if parts[0] in self._reserved and len(parts) > 1:
            return True
        for part in parts:
            if any(fnmatch.fnmatchcase(part, pat) for pat in self._part_patterns):
                return True
        whole = "/".join(parts)
        return any(fnmatch.fnmatchcase(whole, pat) for pat in self._path_patterns)
