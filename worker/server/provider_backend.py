"""`pagemill serve` answered by the provider PAGEMILL_PROVIDER configures (vlm, mistral) instead of the local pool.

Any Mistral OCR client can then use a self-hosted vision model: the request's pages go to the provider as one
range (the VLM provider sends them concurrently, through the limiter every worker shares), and its pages come
back in the same response shape as the local engine's. The provider is used bare, without the text-layer-first
wrapper, as the local pool is: the client asked this server to OCR the pages.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from models.errors import PagemillError

from ..providers import PROVIDERS, OcrPage, OcrProvider, SourceDocument, check_provider
from ..settings import WorkerSettings
from .admission import Admission, Ticket
from .figures import ImageOptions, trim_figures

__all__ = ["ProviderBackend"]


def _schema_for_limiter(settings: WorkerSettings) -> None:
    """Without Redis the provider's limiter (shared with every worker) keeps its state in the results database:
    bring its schema up to date, as any pagemill command does, so a fresh data folder serves too."""
    from models.db import Database
    from models.settings import DatabaseSettings

    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    try:
        db.migrate()
    finally:
        db.dispose()


class ProviderBackend(Admission):
    """Reads a request's pages with one configured provider, built once for the server's life."""

    def __init__(self, size: int, max_queue: int, settings: WorkerSettings) -> None:
        super().__init__(size, max_queue)
        check_provider(settings.provider)
        if settings.shared_redis_url is None:
            _schema_for_limiter(settings)
        self.provider: OcrProvider = PROVIDERS[settings.provider](settings)
        self.name = settings.provider
        self.model = str(getattr(self.provider, "model", settings.provider))

    def warm_up(self) -> None:
        warm = getattr(self.provider, "warm", None)
        if callable(warm):
            warm()  # a server that does not answer is said at start, not at the first request

    async def ocr(self, ticket: Ticket, source: SourceDocument, pages: Sequence[int],
                  images: ImageOptions) -> list[OcrPage]:
        if not pages:
            return []
        started = time.monotonic()
        try:
            result = await run_in_threadpool(self.provider.ocr, source, list(pages))
        except PagemillError as err:
            # a partial answer is not returned: a Mistral client expects every page it asked for, or an error
            err.partial = None
            raise
        self.timed((time.monotonic() - started) / len(pages))
        ticket.remaining = 0
        for page in result.pages:
            trim_figures(page, images)
        return sorted(result.pages, key=lambda p: p.index)

    def close(self) -> None:
        self.provider.close()
