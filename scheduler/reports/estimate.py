"""What a run would bill, before anything is sent: `pagemill estimate PATH...`.

Each file is hashed and inspected as intake would do it, but nothing is stored and no request leaves. Pages are
left out exactly where a run would leave them out: pages already stored (or queued in a live range) for
identical content under identical options, and, with the text layer in `auto` mode, PDF pages whose text layer
passes the quality check (worker/documents/textlayer.py). The rest is priced at the synchronous, batch and annotated
rates of the settings (the local engine is free). With PAGEMILL_PROVIDER=vlm the pages are counted in tokens
instead (worker/providers/vlm/cost.py): input from each page's rendered size and the prompt, output as a low/high
range per page, priced only when the PAGEMILL_VLM_PRICE_PER_MILLION_... prices are set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from models.db import Database
from models.errors import InputError
from models.tables import Document, Page, PageRange, RangeStatus
from worker.documents.inspect import inspect_document, open_pdf
from worker.documents.textlayer import check_page
from worker.providers.vlm.cost import TokenRange, page_sizes_pt, token_range
from worker.providers.vlm.settings import VlmSettings
from worker.settings import WorkerSettings
from worker.tasks.resources import limits_from

from ..intake.plan import parse_pages
from ..intake.register import options_key
from ..launch.submit import expand_paths

__all__ = ["FileEstimate", "Estimate", "estimate"]

_LOCAL = ("tesseract", "local")
_CHUNK = 1 << 20


@dataclass
class FileEstimate:
    path: str
    pages: int = 0  # selected by --pages
    already_done: int = 0  # stored (or queued) for identical content with identical options
    text_layer: int = 0  # read from a good text layer instead
    billed: int = 0
    tokens: TokenRange | None = None  # vlm: the billed pages in tokens
    problem: str | None = None  # the file could not be read: intake would record this error, bill nothing


@dataclass
class Estimate:
    files: list[FileEstimate] = field(default_factory=list)
    provider: str = "tesseract"
    batch: bool = False
    price_per_1000: float = 0.0
    batch_price_per_1000: float = 0.0
    annotated_price_per_1000: float = 0.0
    vlm_model: str | None = None
    vlm_priced: tuple[float, float] | None = None  # (low, high) USD; None: no token price set

    @property
    def tokens(self) -> TokenRange:
        total = TokenRange()
        for f in self.files:
            if f.tokens is not None:
                total.add(f.tokens)
        return total

    @property
    def billed(self) -> int:
        return sum(f.billed for f in self.files)

    @property
    def free(self) -> bool:
        return self.provider in _LOCAL

    def cost(self, price_per_1000: float) -> float:
        return 0.0 if self.free else self.billed * price_per_1000 / 1000

    @property
    def expected_usd(self) -> float:
        """At the rate this run would pay (batch or synchronous)."""
        return self.cost(self.batch_price_per_1000 if self.batch else self.price_per_1000)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _known_pages(db: Database, sha256: str, key: str) -> set[int]:
    """Pages a run would not send again: stored, or in a live range, of a document with the same options."""
    with db.read_session() as s:
        doc = s.scalar(select(Document).where(Document.sha256 == sha256))
        if doc is None or doc.options_key != key:
            return set()  # new content, or new options: intake plans every page again
        have = set(s.scalars(select(Page.page_index).where(Page.document_id == doc.id)))
        live = [RangeStatus.queued, RangeStatus.running, *getattr(RangeStatus, "WAITING", ())]
        for pages in s.scalars(
            select(PageRange.pages).where(PageRange.document_id == doc.id, PageRange.status.in_(live))
        ):
            have.update(pages)
        return have


def _text_layer_pages(path: Path, pages: list[int], password: str | None) -> set[int]:
    """Pages whose text layer passes the check (they would be read, not OCR'd)."""
    good: set[int] = set()
    with open_pdf(path, password) as pdf:
        for index in pages:
            page = pdf[index]
            try:
                if check_page(page).passed:
                    good.add(index)
            finally:
                page.close()
    return good


def _one(db: Database, path: Path, settings: WorkerSettings, key: str, mode: str, pages: str | None,
         password: str | None, force: bool) -> FileEstimate:
    out = FileEstimate(str(path))
    try:
        info = inspect_document(path, password, limits_from(settings))
    except InputError as err:
        out.problem = f"{err.code}: {err.message}"
        return out
    requested = parse_pages(pages, info.page_count)
    out.pages = len(requested)
    known = set() if force else _known_pages(db, _sha256(path), key)
    todo = [p for p in requested if p not in known]
    out.already_done = out.pages - len(todo)
    if mode == "only":
        out.text_layer = len(todo) if info.kind == "pdf" else 0
        todo = []
    elif mode == "auto" and info.kind == "pdf" and todo:
        good = _text_layer_pages(path, todo, password)
        out.text_layer = len(good)
        todo = [p for p in todo if p not in good]
    out.billed = len(todo)
    if settings.provider == "vlm":
        out.tokens = token_range(page_sizes_pt(path, info.kind, todo, password))
    return out


def estimate(
    paths: list[Path], *, settings: WorkerSettings | None = None, batch: bool | None = None,
    pages: str | None = None, password: str | None = None, force: bool = False, db: Database | None = None,
) -> Estimate:
    """The pages a run of `paths` would bill and their price; reads the database, writes nothing."""
    from models.settings import DatabaseSettings

    settings = settings or WorkerSettings()
    db = db or Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    mode = settings.text_layer_mode
    key = options_key(settings.document_options())
    result = Estimate(
        provider=settings.provider, batch=settings.batch if batch is None else batch,
        price_per_1000=settings.price_per_1000_pages, batch_price_per_1000=settings.batch_price,
        annotated_price_per_1000=settings.annotated_price_per_1000_pages,
    )
    for path in expand_paths(paths):
        result.files.append(_one(db, path, settings, key, mode, pages, password, force))
    if settings.provider == "vlm":
        vlm = VlmSettings()
        result.vlm_model = vlm.model
        result.vlm_priced = result.tokens.priced(vlm)
    return result
