"""One ignore list: a folder given to submit skips exactly the names a watched folder skips."""

from __future__ import annotations

from pathlib import Path, PurePath

from scheduler.intake.ignore import IgnoreRules
from scheduler.launch.submit import expand_paths

# every kind of name the default list covers, as test_watch.py drops them into a watched folder
JUNK = [
    ".hidden.png", "._resource.png", "scan.png.part", "scan.filepart", "page.crdownload", "x.tmp",
    "~$report.png", ".DS_Store", "Thumbs.db", "THUMBS.DB", "desktop.ini", "@eaDir/thumb.png", "__MACOSX/a.png",
    ".git/blob.png", "sub/.cache/deep.png", "sub/draft.tmp",
]
KEPT = ["real.png", "sub/kept.pdf", "sub/inner/page.tif"]


def test_submit_of_a_folder_skips_the_names_a_watched_folder_skips(tmp_path: Path) -> None:
    for name in [*JUNK, *KEPT]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    rules = IgnoreRules()
    assert [name for name in JUNK if not rules.ignored(PurePath(name))] == []
    assert [name for name in KEPT if rules.ignored(PurePath(name))] == []
    taken = sorted(p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path]))
    assert taken == sorted(KEPT)


def test_a_file_named_on_the_command_line_is_taken_whatever_its_name(tmp_path: Path) -> None:
    odd = tmp_path / "~$named.png"
    odd.write_bytes(b"x")
    assert expand_paths([odd]) == [odd]
