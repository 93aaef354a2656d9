"""Worker settings, all from `PAGEMILL_...` environment variables, with defaults that run embedded.

Nothing here imports the providers: the provider registry (worker/providers/__init__.py) builds providers from
these settings and checks that PAGEMILL_PROVIDER names one of them (`check_provider`)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.settings import DEFAULT_DATA_DIR

from .vision.settings import DEFAULT_MIN_SIZE

__all__ = ["WorkerSettings", "lang_syntax", "DEFAULT_QUEUE", "LOCAL_PROVIDERS"]

DEFAULT_QUEUE = "pagemill"
DEFAULT_OCR_BASE_URL = "https://api.mistral.ai"
DEFAULT_MISTRAL_MODEL = "mistral-ocr-latest"
LOCAL_PROVIDERS = ("tesseract", "local")  # the local engine's names; the other providers are HTTP APIs


def lang_syntax(value: str) -> str:
    """A --lang / PAGEMILL_LANG value in its usual form, or ValueError. Only the form is checked here (settings
    import no provider): whether the data is installed is checked by the commands before queueing
    (providers/_tessdata.check_lang) and by the engine when it loads."""
    value = value.strip()
    if value.lower() == "auto":
        return "auto"
    if not re.fullmatch(r"[A-Za-z0-9_/]+(\+[A-Za-z0-9_/]+)*", value):
        raise ValueError(f"{value!r} is not a Tesseract language string: e.g. eng, deu, eng+fra, or auto")
    return value


def _env_value(value: object, default: object) -> str | None:
    if value is None:
        # a field whose default is not None says "none" with an empty value (table_format, confidence_scores)
        return None if default is None else ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


class WorkerSettings(BaseSettings):
    """Read from the environment; keyword arguments win (`WorkerSettings(lang="deu")`, by field name even where
    the variable has another name, e.g. `schema_path` for PAGEMILL_SCHEMA). `pagemill run`, `submit` and `watch`
    build theirs from their options this way (scheduler/commands/_intake_options.py), and hand it to the
    worker processes they start through `child_env()`."""

    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore", populate_by_name=True)

    data_dir: Path = DEFAULT_DATA_DIR
    broker_url: str | None = None  # unset: the embedded SQLite broker inside data_dir
    queue: str = DEFAULT_QUEUE
    # the object store (worker/objects/store.py): unset = <data>/objects; s3://bucket/prefix = a bucket shared by every
    # host (endpoint, region and credentials the way AWS tools take them: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID...)
    objects_url: str | None = None
    objects_cache_mb: int = 2048  # this host's cache of originals downloaded from a bucket
    objects_retries: int = 5  # attempts per bucket request on transient faults (botocore's standard mode)
    # where finished documents' searchable PDFs go (scheduler/export/archive.py): a folder or s3://bucket/prefix,
    # through the same stores as objects_url; kept on each document it was given for (documents.archive_url)
    archive_dir: str | None = None

    provider: str = "tesseract"  # a key of worker.providers.PROVIDERS (worker.providers.check_provider)
    # a Tesseract language string (deu, eng+fra) or auto (each page's script picks it); PAGEMILL_TESSDATA is
    # looked in first, then TESSDATA_PREFIX, the pip packages' folder and the system's (providers/_tessdata.py)
    lang: str = "eng"
    tessdata: str | None = None
    dpi: int = 300

    # Mistral-compatible HTTP provider
    ocr_base_url: str = DEFAULT_OCR_BASE_URL
    ocr_model: str = DEFAULT_MISTRAL_MODEL
    # read from MISTRAL_API_KEY (the name users already have) or PAGEMILL_API_KEY
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("MISTRAL_API_KEY", "PAGEMILL_API_KEY"))
    request_timeout_s: float = 120.0
    rate_limit: float = 5.0  # requests per second, across every worker process and host
    max_inflight: int = 8  # concurrent requests, across every worker process and host
    price_per_1000_pages: float = 4.0
    # the Batch API's price; unset: half the synchronous price (Mistral bills batch jobs at 50 % off)
    batch_price_per_1000_pages: float | None = None
    # a page OCR'd with an annotation format (document_annotation_format / bbox_annotation_format sent), as
    # Mistral prices it (OCR 4: $5 per 1000 pages vs $4); the Batch API takes the same share off it as off plain
    # pages (annotated_batch_price)
    annotated_price_per_1000_pages: float = Field(default=5.0, validation_alias=AliasChoices(
        "PAGEMILL_ANNOTATED_PRICE_PER_1000_PAGES", "PAGEMILL_PRICE_PER_1000_ANNOTATED_PAGES"))
    # what of an OCR page is asked for (docs/mistral.md, "What is kept of a page", says why these defaults):
    # tables as HTML objects (merged cells survive; exports put them back in place), layout blocks and page
    # confidence; headers and footers stay in the text unless asked
    table_format: str | None = "html"  # html | markdown | inline (null: tables stay in the markdown)
    extract_header: bool = False
    extract_footer: bool = False
    include_blocks: bool = True
    confidence_scores: str | None = "page"  # page | word | block | none
    image_limit: int | None = None
    image_min_size: int | None = None
    include_image_base64: bool = True
    # the vision step's PAGEMILL_VISION_MIN_SIZE (worker/vision/settings.py `min_size`, which its workers read);
    # here too so that --vision-min-size reaches the workers with the other options (`child_env`) and the
    # command waits for the same images (Job.pending_descriptions)
    vision_min_size: int = Field(default=DEFAULT_MIN_SIZE, ge=1)

    # structured extraction (worker/extraction): a JSON Schema file whose fields every document gets, in the
    # OCR request when the provider is mistral and the document fits one request, else from the stored
    # markdown through the chat model (PAGEMILL_EXTRACT_...); checked by the command before anything is sent
    # PAGEMILL_SCHEMA ("schema" itself would shadow a pydantic attribute)
    schema_path: Path | None = Field(default=None, validation_alias=AliasChoices("PAGEMILL_SCHEMA"))
    image_schema: Path | None = None  # bbox_annotation_format: each extracted image's annotation (mistral)
    extract_prompt: str | None = None  # document_annotation_prompt, and more instructions for the chat model
    annotation_max_pages: int = 100  # longer documents are OCR'd in ranges and extracted after (docs/extraction.md)

    # Batch API mode (worker/batch_*.py, scheduler/sweep/batch_poller.py): ranges go out as JSONL batch jobs
    batch: bool = False
    batch_fallback: str = "batch"  # a failed batch line is tried again in the next batch, or "sync"
    batch_max_wait_s: float = 60.0  # a queued batch range waits at most this long for more to join its job
    batch_min_requests: int = 1000  # ...or until this many requests are waiting
    batch_max_requests: int = 10_000  # per input file (documented limit: 100,000)
    batch_max_file_mb: int = 500  # per input file (documented limit: 512 MB)
    batch_timeout_hours: int = 24  # the job's timeout_hours (1-168)
    batch_poll_min_s: float = 2.0  # polling a live job backs off from this...
    batch_poll_max_s: float = 300.0  # ...to this

    # budget (worker/budget/limit.py): spending never crosses it; 0/unset = no limit
    monthly_budget_usd: float | None = None

    # reliability
    max_attempts: int = 4
    task_time_limit_s: int = 600
    # a running range's lease; a live worker renews it every lease_s/3 (worker/ranges/lease.py), so it can be short:
    # the range of a dead worker is re-queued by the sweep soon after it runs out
    lease_s: float = 60
    visibility_timeout_s: int = 3600
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    # a provider outage (429, 5xx, timeouts: the API answering nothing useful) spends no attempts until it has
    # lasted this long for a range: a minute of 503s from the API must not fail every range sent meanwhile
    retry_window_s: float = 600.0

    # input limits
    max_file_mb: int = 2048
    max_pages: int = 20_000
    max_image_pixels: int = 200_000_000
    max_request_mb: int = 50  # provider limit per request
    max_request_pages: int = 1000

    @property
    def extracts(self) -> bool:
        """Whether a schema was given (--schema or --image-schema): only then are the schema modules, and
        jsonschema with them (0.05-0.1 s to load), needed."""
        return self.schema_path is not None or self.image_schema is not None

    @property
    def batch_price(self) -> float:
        """USD per 1000 pages through the Batch API."""
        if self.batch_price_per_1000_pages is not None:
            return self.batch_price_per_1000_pages
        return self.price_per_1000_pages / 2

    @property
    def annotated_batch_price(self) -> float:
        """USD per 1000 annotated pages through the Batch API: the batch discount applied to the annotated rate."""
        if not self.price_per_1000_pages:
            return self.annotated_price_per_1000_pages / 2
        return self.annotated_price_per_1000_pages * self.batch_price / self.price_per_1000_pages

    @field_validator("batch_fallback")
    @classmethod
    def _known_fallback(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("batch", "sync"):
            raise ValueError(f"unknown batch fallback {value!r}; choose batch or sync")
        return value

    @field_validator("batch_timeout_hours")
    @classmethod
    def _timeout_hours(cls, value: int) -> int:
        if not 1 <= value <= 168:
            raise ValueError("the batch timeout must be 1 to 168 hours (the Batch API's limits)")
        return value

    @field_validator("table_format")
    @classmethod
    def _known_table_format(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower()
        if value in ("", "none", "null", "inline"):
            return None
        if value not in ("html", "markdown"):
            raise ValueError(f"unknown table format {value!r}; choose html, markdown or inline")
        return value

    @field_validator("lang")
    @classmethod
    def _lang_syntax(cls, value: str) -> str:
        return lang_syntax(value)

    @field_validator("confidence_scores")
    @classmethod
    def _known_granularity(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower()
        if value in ("", "none", "off", "null"):
            return None
        if value not in ("page", "word", "block"):
            raise ValueError(f"unknown confidence granularity {value!r}; choose page, word, block or none")
        return value

    def document_options(self) -> dict[str, object]:
        """What decides the OCR output of a document: identical content with identical options is not
        OCR'd again (dedup compares a hash of this)."""
        text_layer = self.text_layer_mode
        extraction: dict[str, object] = {}
        if self.extracts:
            from .extraction.options import extraction_options

            extraction = extraction_options(self)
        if self.provider in LOCAL_PROVIDERS:
            return {"provider": "tesseract", "lang": self.lang, "dpi": self.dpi, "text_layer": text_layer,
                    **extraction}
        if self.provider == "vlm":
            from .providers.vlm.settings import VlmSettings

            extraction = {**extraction, **VlmSettings().document_options()}
        return {
            **extraction,
            "provider": self.provider,
            "text_layer": text_layer,
            "model": self.ocr_model,
            "base_url": self.ocr_base_url,
            "table_format": self.table_format,
            "extract_header": self.extract_header,
            "extract_footer": self.extract_footer,
            "include_blocks": self.include_blocks,
            "confidence_scores": self.confidence_scores,
            "image_limit": self.image_limit,
            "image_min_size": self.image_min_size,
            "include_image_base64": self.include_image_base64,
        }

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def effective_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def archive_url(self) -> str | None:
        """PAGEMILL_ARCHIVE_DIR as stored on documents: a URL as given (s3://...), a folder as an absolute path
        (the process that writes the copy may run elsewhere in the tree)."""
        value = (self.archive_dir or "").strip()
        if not value:
            return None
        if "://" in value and not value.lower().startswith("file://"):
            return value
        return str(Path(value.removeprefix("file://")).expanduser().absolute())

    @property
    def embedded_broker(self) -> bool:
        return self.effective_broker_url.startswith("sqla+")

    @property
    def shared_redis_url(self) -> str | None:
        """The broker's URL when it is Redis: the rate limiters and budgets keep their shared state there.
        None: they keep it in the results database."""
        url = self.broker_url
        return url if url and url.split(":", 1)[0] in ("redis", "rediss", "unix") else None

    # text layer first (worker.providers.textlayer_first): auto | never | only; None = the provider's default
    text_layer: str | None = None

    @property
    def text_layer_mode(self) -> str:
        """The effective mode: the configured one, else `auto` for the local engine and `never` for APIs."""
        return self.text_layer or ("auto" if self.provider in LOCAL_PROVIDERS else "never")

    @field_validator("text_layer")
    @classmethod
    def _known_text_layer(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower()
        if value not in ("auto", "never", "only"):
            raise ValueError(f"unknown text layer mode {value!r}; choose auto, never or only")
        return value

    def child_env(self) -> dict[str, str | None]:
        """These settings as the variables a worker process started with them reads (None: unset there): every
        field given to the constructor or read from the environment, under its PAGEMILL_... name (the first of
        its aliases). `pagemill run`, `submit --wait` and `watch` start their workers with it, so options given
        on the command line or to the Python API reach them without touching this process's environment."""
        env: dict[str, str | None] = {}
        for name in sorted(self.model_fields_set):
            field = type(self).model_fields[name]
            alias = field.validation_alias
            key = alias.choices[0] if isinstance(alias, AliasChoices) else f"PAGEMILL_{name.upper()}"
            assert isinstance(key, str)
            env[key] = _env_value(getattr(self, name), field.default)
        return env

    # Celery task events, for Flower (`celery flower`) and `celery events`: off by default (every task sends
    # several broker messages); PAGEMILL_TASK_EVENTS=1 turns them on
    task_events: bool = False
