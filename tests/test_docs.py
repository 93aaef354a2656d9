"""The README and docs/ say what the code does: every command, option, setting, link, file, test name, Python call
and SQL example they show is checked against the code (docs/schema.md's own checks are in test_schema_doc.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest
import typer
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from sqlalchemy import text

from models.db import Database
from tests.docs_db import DIALECTS, filled_database, runs_on, sql_blocks

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("models", "worker", "scheduler")
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
SETTINGS_DOC = ROOT / "docs" / "settings.md"

# pages the README must link to: the reference that left it
REQUIRED_PAGES = ("commands", "settings", "production", "batch-and-budgets", "extraction", "review-page",
                  "local-engine", "faults", "schema", "mistral", "testing", "python-api", "layout")


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- what the markdown shows ------------------------------------------------------------------------------------

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def fenced(body: str, *langs: str) -> list[str]:
    return [code for lang, code in FENCE.findall(body) if lang in langs]


def prose(body: str) -> str:
    return FENCE.sub("", body)


def snippets(body: str) -> list[str]:
    """Command lines: each line of bash/sh blocks (comments cut) and every inline code span outside blocks."""
    out = []
    for code in fenced(body, "bash", "sh", "console", ""):
        for line in code.splitlines():
            out.append(re.sub(r"\s#\s.*$", "", line))
    out += SPAN.findall(prose(body))
    return out


# --- the CLI ----------------------------------------------------------------------------------------------------


@cache
def cli() -> click.Group:
    from scheduler.cli import app

    return typer.main.get_command(app)  # type: ignore[return-value]


def options_of(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


# `pagemill` then its global options, then a command word
INVOCATION = re.compile(r"(?<![\w./-])pagemill((?:\s+(?:-v|--verbose|--data\s+\S+))*)\s+([a-z][a-z-]*)")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def invocations(snippet: str) -> list[tuple[str, str]]:
    """(command, the text after it up to the next command separator) for each `pagemill CMD ...` in a snippet."""
    found = []
    for m in INVOCATION.finditer(snippet):
        rest = snippet[m.end():]
        rest = re.split(r"&&|;|\s\|\s|\bpagemill\b|\s#\s|`", rest)[0]
        found.append((m.group(2), m.group(1) + " " + rest))
    return found


def test_every_command_and_option_shown_exists() -> None:
    group = cli()
    ctx = click.Context(group)
    known = set(group.list_commands(ctx))
    global_opts = options_of(group)
    wrong = []
    seen = 0
    for page in PAGES:
        for snippet in snippets(page.read_text()):
            for name, rest in invocations(snippet):
                seen += 1
                if name not in known:
                    wrong.append(f"{rel(page)}: `pagemill {name}` is not a command ({snippet!r})")
                    continue
                command = group.get_command(ctx, name)
                words = rest.split()
                if hasattr(command, "list_commands") and words and words[0] in command.list_commands(ctx):
                    command = command.get_command(ctx, words[0])  # `pagemill webhooks add ...`: add's options
                allowed = options_of(command) | global_opts | {"--help"}
                for opt in OPTION.findall(rest):
                    if opt not in allowed:
                        wrong.append(f"{rel(page)}: `pagemill {name}` has no option {opt} ({snippet!r})")
    assert seen > 50, f"only {seen} pagemill commands found: is the parser still reading the docs?"
    assert not wrong, "\n".join(wrong)


def test_the_readme_and_commands_page_list_every_command() -> None:
    group = cli()
    for page in (ROOT / "README.md", ROOT / "docs" / "commands.md"):
        rows = {name for line in page.read_text().splitlines() if line.startswith("| `pagemill ")
                for name, _ in invocations(line)}
        missing = set(group.list_commands(click.Context(group))) - rows
        assert not missing, f"{rel(page)}: no table row for {sorted(missing)}"


def test_the_readme_stays_a_newcomers_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 130, "the README grew: move the reference into docs/"
    # the two commands of the quick start, exactly (.ci/run runs scripts/test.sh)
    assert "pip install -e . && pagemill run samples/\n" in readme
    assert "bash scripts/test.sh\n" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    for name in REQUIRED_PAGES:
        assert f"](docs/{name}.md)" in readme, f"the README does not link to docs/{name}.md"


# --- links, files and tests named -------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def links(page: Path) -> list[str]:
    """Link and image targets of a page, outside code (where they are examples of pagemill's output)."""
    return LINK.findall(SPAN.sub("", prose(page.read_text())))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", prose(page.read_text()), re.MULTILINE)}


def test_every_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{rel(page)}: {target} (no such file)")
            elif anchor and anchor not in anchors(dest):
                broken.append(f"{rel(page)}: {target} (no such heading in {rel(dest)})")
    assert not broken, "\n".join(broken)


def test_every_page_is_reachable_from_the_readme() -> None:
    linked = set()
    for page in PAGES:
        for target in links(page):
            path = target.partition("#")[0]
            if path.endswith(".md") and not re.match(r"[a-z]+:", path):
                linked.add((page.parent / path).resolve())
    orphans = [rel(p) for p in DOCS if p.resolve() not in linked]
    assert not orphans, f"docs pages nothing links to: {orphans}"


# a path in code spans: starts at a top-level folder of the repository
TOP = ("models", "worker", "scheduler", "tests", "bench", "docs", "examples", "scripts", "samples", ".ci")
PATH = re.compile(r"(?<![\w./<-])((?:" + "|".join(re.escape(t) for t in TOP) + r")/[\w./-]*)")


def test_every_file_named_exists() -> None:
    missing = []
    for page in PAGES:
        body = page.read_text()
        for chunk in SPAN.findall(prose(body)) + [c for _, c in FENCE.findall(body)]:
            for path in PATH.findall(chunk):
                path = path.rstrip(".")
                if not (ROOT / path).exists() and not (ROOT / page.parent / path).exists():
                    missing.append(f"{rel(page)}: {path}")
    assert not missing, "files the docs name that are not in the repository:\n" + "\n".join(missing)


def test_every_test_named_exists() -> None:
    defined = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        defined |= {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
    named = {(rel(page), name) for page in PAGES
             for name in re.findall(r"`(test_\w+)`", page.read_text())}
    missing = [f"{page}: {name}" for page, name in sorted(named) if name not in defined]
    assert named, "no test names found in the docs"
    assert not missing, "\n".join(missing)


# --- settings ---------------------------------------------------------------------------------------------------

SETTING = re.compile(r"\b((?:PAGEMILL|MISTRAL)_[A-Z0-9_]*[A-Z0-9])\b")
NAME = re.compile(r"(?:PAGEMILL|MISTRAL)_[A-Z0-9_]*[A-Z0-9]")  # a whole string constant naming a variable


def product_files() -> list[Path]:
    return [p for top in PRODUCT for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts]


@cache
def settings_fields() -> list[tuple[tuple[str, ...], object]]:
    """(the variables of one field: its name or its aliases, its default) for every field of every pydantic
    BaseSettings class in models/, worker/ and scheduler/."""
    for path in product_files():
        if "BaseSettings" in path.read_text():
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))

    def subclasses(cls: type) -> list[type]:
        return [c for s in cls.__subclasses__() for c in (s, *subclasses(s))]

    classes = [c for c in subclasses(BaseSettings) if c.__module__.split(".")[0] in PRODUCT]
    assert len(classes) >= 10, [c.__name__ for c in classes]
    fields = []
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names = tuple(a.upper() for a in alias.choices) if isinstance(alias, AliasChoices) else (
                (prefix + name).upper(),)
            fields.append((names, field.default))
    return fields


@cache
def code_settings() -> dict[str, tuple[str, ...]]:
    """Every environment variable the product reads -> the names of its field (aliases share one field): the
    settings classes' fields and every literal os.environ read."""
    found = {n: names for names, _ in settings_fields() for n in names}
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                found.setdefault(node.value, (node.value,))
    return found


@cache
def code_defaults() -> dict[str, object]:
    """Variable -> its default in the settings classes (those that share a variable agree: checked here)."""
    out: dict[str, object] = {}
    for names, default in settings_fields():
        for n in names:
            assert out.get(n, default) == default, f"{n}: two settings classes disagree on its default"
            out[n] = default
    return out


def settings_rows() -> list[tuple[list[str], str]]:
    """(variables, default cell) of each row of settings.md's tables."""
    rows = []
    for line in SETTINGS_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows.append((SETTING.findall(cells[0]), cells[1]))
    return rows


def test_settings_page_names_every_setting_the_code_reads() -> None:
    documented = {n for names, _ in settings_rows() for n in names}
    missing = sorted(set(code_settings()) - documented)
    assert not missing, f"read by the code but not in a row of docs/settings.md: {missing}"


def test_settings_page_names_no_setting_the_code_does_not_read() -> None:
    unknown = sorted(set(SETTING.findall(SETTINGS_DOC.read_text())) - set(code_settings()))
    assert not unknown, f"docs/settings.md names settings no code reads: {unknown}"


def test_one_setting_per_row_and_its_default_is_the_codes() -> None:
    defaults = code_defaults()
    wrong = []
    for names, cell in settings_rows():
        fields = {code_settings().get(n) for n in names}
        if len(fields) != 1:
            wrong.append(f"{names}: one setting (and its aliases) per row")
            continue
        name = names[0]
        if name not in defaults:
            continue
        default = getattr(defaults[name], "value", defaults[name])
        shown = re.match(r"`([^`]*)`", cell)
        if default in (None, "", 0) and not isinstance(default, bool):
            if shown and shown.group(1) not in ("0", "0.0", ""):
                wrong.append(f"{name}: the code has no default ({default!r}), the page says {cell!r}")
            continue
        if isinstance(default, str) and len(default) > 40:
            continue  # a prompt: described, not quoted
        if not shown:
            wrong.append(f"{name}: default {default!r} not shown as `{default}` (the page says {cell!r})")
        elif not same_value(shown.group(1), default):
            wrong.append(f"{name}: the page says `{shown.group(1)}`, the code {default!r}")
    assert not wrong, "\n".join(wrong)


def same_value(shown: str, default: object) -> bool:
    if isinstance(default, bool):
        return shown.lower() in (("true", "1", "on") if default else ("false", "0", "off"))
    if isinstance(default, int | float):
        try:
            return float(shown) == float(default)
        except ValueError:
            return False
    return shown.removeprefix("./") == str(default)


def test_every_setting_any_page_names_exists() -> None:
    """A setting named anywhere (a typo, or one the code dropped) is read by the product, the tests or the
    benchmarks, or set in compose.yaml."""
    known = set(code_settings()) | set(SETTING.findall((ROOT / "compose.yaml").read_text()))
    for top in ("tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            known |= set(SETTING.findall(path.read_text()))
    unknown = sorted({f"{rel(page)}: {n}" for page in PAGES for n in SETTING.findall(page.read_text())
                      if n not in known})
    assert not unknown, "\n".join(unknown)


# --- Python and SQL ---------------------------------------------------------------------------------------------


def test_python_examples_call_run_and_submit_with_keywords_they_take() -> None:
    import scheduler

    checked = 0
    for page in PAGES:
        for code in fenced(page.read_text(), "python"):
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name), f"{rel(page)}: {node.module} has no {alias.name}"
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                        "run", "submit"):
                    params = inspect.signature(scheduler.submit).parameters
                    for kw in node.keywords:
                        assert kw.arg in params, f"{rel(page)}: {node.func.id}() takes no {kw.arg}="
                        checked += 1
    assert checked >= 2


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from filled_database(request, tmp_path)


SQL_PAGES = [p for p in PAGES if p.name != "schema.md" and sql_blocks(p)]  # schema.md: test_schema_doc.py


def test_there_is_sql_outside_schema_md() -> None:
    assert SQL_PAGES, "no page besides schema.md shows SQL: is the fence parser still right?"


@pytest.mark.parametrize("page", SQL_PAGES, ids=rel)
def test_every_sql_example_runs_and_returns_rows(page: Path, db: Database) -> None:
    dialect = db.engine.dialect.name
    for sql in sql_blocks(page):
        if not runs_on(sql, dialect):
            continue
        with db.read_session() as s:
            rows = s.execute(text(sql)).all()
        assert rows, f"{rel(page)}: no rows on {dialect} from:\n{sql}"
