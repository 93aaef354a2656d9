"""The VLM provider: each page rendered at the profile's size, sent as a base64 data URI to a vision-language
model behind `/v1/chat/completions`, its answer read by the model family's profile into the same `OcrPage`
every provider gives (markdown, tables, typed blocks with boxes, figures cut out of the page image).

One range's pages go concurrently (a thread pool of PAGEMILL_VLM_MAX_INFLIGHT) through the shared limiter
"vlm" (PAGEMILL_VLM_RATE_LIMIT and _MAX_INFLIGHT hold across every worker and host): inference servers batch
concurrent requests. Per page (guards.py):
1. a blank page is found locally and never sent (source `vlm`, empty markdown, the guard noted);
2. an answer cut off, looping, empty, refused or in the wrong format is asked again at the profile's next
   temperature, at most PAGEMILL_VLM_MAX_ATTEMPTS times;
3. a page the model says is rotated is turned and sent again (once);
4. markup in the answer that is not table markup is escaped (kept as inert text) and noted;
5. after the last try the page falls back to its PDF text layer or the local engine (PAGEMILL_VLM_FALLBACK),
   with `source` `fallback:text_layer` / `fallback:tesseract`, the reason in the page's note and a confidence of
   0, so `pagemill review` lists it first.
What fired is written at the end of the page as an HTML comment (`<!-- pagemill: vlm ... -->`, as the local
engine notes its own trouble), with the page's tokens, language and rotation, and logged. HTTP failures (429,
5xx, time-outs, auth) are not the page's fault: the range fails with them (pages already answered go back as
`err.partial`, stored and never sent again) and the task retries after Retry-After.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from PIL import Image

from models.errors import ConfigError, PagemillError, RateLimited

from ..base import OcrBlock, OcrConfidence, OcrImage, OcrPage, OcrProvider, OcrResult, OcrUsage, SourceDocument
from .client import ChatAnswer, VlmClient
from .guards import BadAnswer, check_answer, inert_markdown, is_blank
from .pages import PageImage, encode, render_for_model, turn
from .profiles import Profile, choose_profile
from .profiles.base import Parsed, WrongFormat
from .settings import VlmSettings
from .tables import take_tables

if TYPE_CHECKING:
    from ...settings import WorkerSettings

__all__ = ["VlmProvider", "PageRecord", "FALLBACK_TEXT_LAYER", "FALLBACK_LOCAL", "FALLBACK_NONE"]

log = logging.getLogger("pagemill.worker.vlm")

FALLBACK_TEXT_LAYER = "fallback:text_layer"
FALLBACK_LOCAL = "fallback:tesseract"
FALLBACK_NONE = "fallback:none"  # neither gave text: the page is stored empty, with the reason


@dataclass
class PageRecord:
    """What happened to one page: the guards that fired, its tokens, what the model reported."""

    index: int
    notes: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    language: str | None = None
    rotation: int = 0
    failed: BadAnswer | None = None
    blank: bool = False

    def comment(self, name: str) -> str:
        parts = [f"{self.requests} request(s)", f"tokens in {self.prompt_tokens} out {self.completion_tokens}"]
        if self.language:
            parts.append(f"language {self.language}")
        if self.rotation:
            parts.append(f"turned {self.rotation} degrees")
        parts += self.notes
        text = "; ".join(parts).replace("--", "- -").replace(">", "&gt;")
        return f"<!-- pagemill: {name}: {text} -->"


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    image.crop(box).save(buf, "PNG", compress_level=3)
    return buf.getvalue()


class VlmProvider:
    name = "vlm"

    def __init__(self, client: VlmClient, profile: Profile, *, prompt: str | None = None,
                 max_tokens: int | None = None, max_attempts: int = 4, max_inflight: int = 16,
                 image_format: str = "png", blank_threshold: float = 0.002, fallback: str = "auto",
                 table_format: str | None = "html", price: Callable[[int, int], float] | None = None,
                 local: Callable[[], OcrProvider] | None = None, text_layer_dpi: int = 300) -> None:
        self.client = client
        self.profile = profile
        self.prompt = prompt or profile.prompt
        self.max_tokens = max_tokens or profile.max_tokens
        self.max_attempts = max(1, max_attempts)
        self.max_inflight = max(1, max_inflight)
        self.image_format = image_format
        self.blank_threshold = blank_threshold
        self.fallback = fallback
        self.table_format = table_format
        self.price = price
        self._local_factory = local
        self._local: OcrProvider | None = None
        self.text_layer_dpi = text_layer_dpi

    def __repr__(self) -> str:
        return f"VlmProvider(client={self.client!r}, profile={self.profile.name!r})"

    @property
    def model(self) -> str:
        return self.client.model

    @classmethod
    def from_settings(cls, settings: WorkerSettings, vlm: VlmSettings | None = None,
                      client: httpx.Client | None = None) -> VlmProvider:
        from ...ratelimit.limiter import build_limiter

        vlm = vlm or VlmSettings()
        if not vlm.base_url:
            raise ConfigError("PAGEMILL_PROVIDER=vlm needs a server: set PAGEMILL_VLM_BASE_URL "
                              "(e.g. http://127.0.0.1:8000 for vLLM, http://127.0.0.1:11434 for Ollama)")
        profile = choose_profile(vlm.model, vlm.profile)
        limiter = build_limiter(settings, name="vlm", rate_per_s=vlm.rate_limit, max_inflight=vlm.max_inflight,
                                max_wait_s=max(30.0, vlm.timeout_s), lease_s=vlm.timeout_s + 30)
        api = VlmClient(vlm.base_url, vlm.model, vlm.api_key, vlm.timeout_s, limiter, client,
                        url_form=vlm.image_url_form)

        def local() -> OcrProvider:
            from ..tesseract import TesseractProvider

            return TesseractProvider(lang=settings.lang, tessdata=settings.tessdata, dpi=settings.dpi)

        return cls(api, profile, prompt=vlm.prompt, max_tokens=vlm.max_tokens, max_attempts=vlm.max_attempts,
                   max_inflight=vlm.max_inflight, image_format=vlm.image_format,
                   blank_threshold=vlm.blank_threshold, fallback=vlm.fallback, table_format=settings.table_format,
                   price=vlm.cost_usd if (vlm.price_per_million_input_tokens or vlm.price_per_million_output_tokens)
                   else None, local=local, text_layer_dpi=settings.dpi)

    def warm(self) -> None:
        self.client.warm()

    # -- one page ---------------------------------------------------------------------------------------------

    def _ask(self, image: Image.Image, temperature: float, record: PageRecord) -> ChatAnswer:
        answer = self.client.ask(self.prompt, encode(image, self.image_format), max_tokens=self.max_tokens,
                                 temperature=temperature, image_first=self.profile.image_first,
                                 extra=self.profile.request_extra)
        record.requests += 1
        record.prompt_tokens += answer.prompt_tokens
        record.completion_tokens += answer.completion_tokens
        return answer

    def _read(self, page: PageImage) -> tuple[OcrPage | None, PageRecord]:
        record = PageRecord(page.index)
        if is_blank(page.image, self.blank_threshold):
            record.blank = True
            record.notes.append("blank page: not sent")
            return OcrPage(index=page.index, markdown=record.comment(self.name), width=page.image.width,
                           height=page.image.height, dpi=page.dpi, source=self.name), record
        image, turned = page.image, 0
        temps = self.profile.temperatures
        parsed: Parsed | None = None
        for attempt in range(self.max_attempts):
            temperature = temps[min(attempt, len(temps) - 1)]
            answer = self._ask(image, temperature, record)
            try:
                check_answer(answer.text, answer.finish_reason, answer.refusal)
                try:
                    parsed = self.profile.parse(answer.text, image.width, image.height)
                except WrongFormat as exc:
                    raise BadAnswer("wrong_format", str(exc)) from None
            except BadAnswer as bad:
                record.notes.append(f"try {attempt + 1} at temperature {temperature:g}: {bad.reason}")
                record.failed = bad
                parsed = None
                continue
            record.failed = None
            if parsed.rotation and not turned and attempt + 1 < self.max_attempts:
                record.notes.append(f"try {attempt + 1}: the model said the page is rotated by {parsed.rotation}"
                                    " degrees; turned and sent again")
                turned = parsed.rotation
                image = turn(image, parsed.rotation)
                continue
            break
        record.rotation = turned
        if parsed is None:
            assert record.failed is not None
            return None, record
        return self._page(page, image, parsed, record), record

    def _page(self, page: PageImage, image: Image.Image, parsed: Parsed, record: PageRecord) -> OcrPage:
        record.language = parsed.language
        markdown, hostile = inert_markdown(parsed.markdown)
        if hostile:
            record.notes.append("markup made inert: " + ", ".join(hostile[:8]))
        images: list[OcrImage] = []
        for region in parsed.regions:
            if region.kind == "image" and region.box and region.image_id:
                x0, y0, x1, y1 = region.box
                images.append(OcrImage(id=region.image_id, top_left_x=x0, top_left_y=y0, bottom_right_x=x1,
                                       bottom_right_y=y1, data=_crop(image, region.box)))
        markdown, tables = take_tables(markdown, self.table_format)
        blocks: list[OcrBlock] | None = None
        if parsed.flags.get("layout"):
            blocks = []
            table_ids = iter(t.id for t in tables)
            for region in parsed.regions:
                box = region.box or (None, None, None, None)
                content, _ = inert_markdown(region.text)
                blocks.append(OcrBlock(type=region.kind, content=content, top_left_x=box[0], top_left_y=box[1],
                                       bottom_right_x=box[2], bottom_right_y=box[3], image_id=region.image_id,
                                       table_id=next(table_ids, None) if region.kind == "table" else None))
        markdown = (markdown.rstrip() + "\n\n" + record.comment(self.name)).lstrip()
        return OcrPage(index=page.index, markdown=markdown, images=images, width=image.width,
                       height=image.height, dpi=page.dpi, source=self.name, tables=tables, blocks=blocks)

    # -- fallbacks --------------------------------------------------------------------------------------------

    def _fall_back(self, source: SourceDocument, record: PageRecord, page: PageImage) -> OcrPage:
        reason = record.failed.message if record.failed else "no answer"
        record.notes.append(f"fell back after {record.requests} request(s): {reason}")
        log.warning("vlm page %s fell back: %s", record.index, reason)
        out: OcrPage | None = None
        if self.fallback in ("auto", "text_layer") and source.kind == "pdf":
            out = self._text_layer(source, record.index)
        if out is None and self.fallback in ("auto", "local"):
            out = self._local_page(source, record)
        if out is None:
            record.notes.append("no fallback gave text")
            out = OcrPage(index=record.index, markdown="", width=page.image.width, height=page.image.height,
                          dpi=page.dpi, source=FALLBACK_NONE)
        out.confidence = OcrConfidence(average=0.0, minimum=0.0)  # first in `pagemill review`
        out.markdown = (out.markdown.rstrip() + "\n\n" + record.comment(self.name)).lstrip()
        return out

    def _text_layer(self, source: SourceDocument, index: int) -> OcrPage | None:
        from ...documents.inspect import open_pdf
        from ...documents.textlayer import read_page
        from ...layout.page import fill_page

        with open_pdf(source.path, source.password) as pdf:
            layer = read_page(pdf, index, self.text_layer_dpi, None)
        if not layer.markdown.strip():
            return None
        out = OcrPage(index=index, markdown=layer.markdown, images=layer.images, width=layer.width,
                      height=layer.height, dpi=layer.dpi, source=FALLBACK_TEXT_LAYER)
        if layer.found is not None:
            fill_page(out, layer.found)
        return out

    def _local_page(self, source: SourceDocument, record: PageRecord) -> OcrPage | None:
        if self._local_factory is None:
            return None
        try:
            if self._local is None:
                self._local = self._local_factory()
            pages = self._local.ocr(source, [record.index]).pages
        except PagemillError as err:
            record.notes.append(f"the local engine failed too: {err.message}")
            return None
        if not pages:
            return None
        pages[0].source = FALLBACK_LOCAL
        return pages[0]

    # -- a range ----------------------------------------------------------------------------------------------

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        answered: dict[int, tuple[OcrPage | None, PageRecord]] = {}
        errors: list[PagemillError] = []
        rendered: list[PageImage] = []
        if pages:
            # each page is sent as soon as it is rendered: rendering the next overlaps the requests in flight
            with ThreadPoolExecutor(max_workers=min(self.max_inflight, len(pages)),
                                    thread_name_prefix="vlm-page") as pool:
                futures = []
                for p in render_for_model(source, pages, self.profile.size):
                    rendered.append(p)
                    futures.append((p, pool.submit(self._read, p)))
                for p, future in futures:
                    try:
                        answered[p.index] = future.result()
                    except PagemillError as err:
                        errors.append(err)
        out: list[OcrPage] = []
        records: list[PageRecord] = []
        for p in rendered:
            if p.index not in answered:
                continue
            page, record = answered[p.index]
            if page is None:
                if self.fallback == "none":
                    errors.append(record.failed or BadAnswer("empty", "no answer"))
                    continue
                page = self._fall_back(source, record, p)
            out.append(page)
            records.append(record)
            p.image.close()
        result = self._result(out, records)
        if errors:
            err = _worst(errors)
            if out:
                err.partial = result
                if isinstance(err, RateLimited):
                    err.sent = True
            raise err
        return result

    def _result(self, pages: list[OcrPage], records: list[PageRecord]) -> OcrResult:
        prompt = sum(r.prompt_tokens for r in records)
        completion = sum(r.completion_tokens for r in records)
        sent = sum(1 for r in records if r.requests)
        cost = self.price(prompt, completion) if self.price is not None else 0.0
        usage = OcrUsage(pages_processed=sent, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        return OcrResult(pages=sorted(pages, key=lambda p: p.index), model=self.model, usage=usage, billed=True)

    def close(self) -> None:
        self.client.close()
        if self._local is not None:
            self._local.close()
            self._local = None


def _worst(errors: list[PagemillError]) -> PagemillError:
    """The error the range fails with: a wrong key first (it stops the job), then a rate limit (its
    Retry-After), then anything else."""
    from models.errors import ProviderAuthError

    for kind in (ProviderAuthError, RateLimited):
        for err in errors:
            if isinstance(err, kind):
                return err
    return errors[0]
