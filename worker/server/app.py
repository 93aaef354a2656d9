"""The FastAPI app of `pagemill serve`: the Mistral `/v1/ocr` and `/v1/files` contract over the local engine, or
over the provider PAGEMILL_PROVIDER configures (vlm, mistral: provider_backend.py).

    app = create_app(ServerSettings(workers=2, api_key="secret"))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..settings import LOCAL_PROVIDERS, WorkerSettings
from .errors import install_handlers, validation_error
from .figures import ImageOptions
from .files import FileStore
from .guard import Guard
from .ocr_pool import EngineOptions, OcrPool
from .provider_backend import ProviderBackend
from .responses import build_response
from .schemas import DeletedFile, FileObject, OCRRequest, OCRResponse, SignedURL, parse_pages, unknown_fields
from .settings import ServerSettings
from .sources import file_content_path, resolve_document

__all__ = ["create_app"]

_BODY_SLACK = 1024 * 1024  # JSON around the base64 document, multipart headers


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServerSettings = app.state.settings
    pool: OcrPool | ProviderBackend = app.state.pool or OcrPool(
        settings.pool_size, settings.max_queue,
        EngineOptions(lang=settings.lang, tessdata=settings.tessdata, dpi=settings.dpi))
    await run_in_threadpool(pool.warm_up)
    app.state.pool = pool
    try:
        yield
    finally:
        await run_in_threadpool(pool.close)


def create_app(settings: ServerSettings | None = None, worker: WorkerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    app = FastAPI(title="pagemill serve", summary="Mistral-compatible OCR over the local engine",
                  lifespan=_lifespan)
    app.state.settings = settings
    worker = worker or WorkerSettings()
    # an HTTP provider is built here, so a missing setting (PAGEMILL_VLM_BASE_URL...) stops `pagemill serve`
    # with what to set before it listens; the local pool starts its processes in the lifespan
    app.state.pool = (None if worker.provider in LOCAL_PROVIDERS
                      else ProviderBackend(settings.pool_size, settings.max_queue, worker))
    app.state.files = FileStore(settings.resolved_files_dir(), settings.max_upload_bytes)
    install_handlers(app)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    json_limit = settings.max_document_bytes * 4 // 3 + _BODY_SLACK  # base64 grows data by a third
    app.add_middleware(Guard, api_key=api_key, json_limit=json_limit,
                       upload_limit=settings.max_upload_bytes + _BODY_SLACK)
    _ocr_routes(app, settings)
    _file_routes(app)
    return app


def _ocr_routes(app: FastAPI, settings: ServerSettings) -> None:
    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/ocr", response_model=OCRResponse, response_model_exclude_none=False)
    async def ocr(body: OCRRequest, request: Request) -> OCRResponse:
        if settings.strict and (extra := unknown_fields(body)):
            raise RequestValidationError(extra)
        pool: OcrPool | ProviderBackend = request.app.state.pool
        store: FileStore = request.app.state.files
        async with pool.admit(0) as ticket, resolve_document(
            body.document, store, request.headers.get("host"), settings.max_document_bytes,
            settings.max_document_pages, store.folder / "tmp",
        ) as doc:
            try:
                pages = parse_pages(body.pages, doc.source.page_count)
            except ValueError as exc:
                raise validation_error(["body", "pages"], str(exc), body.pages) from None
            chosen = pages if pages is not None else list(range(doc.source.page_count))
            ticket.remaining = len(chosen)
            images = ImageOptions(wanted=body.image_limit != 0,
                                  include_base64=bool(body.include_image_base64),
                                  min_size_px=body.image_min_size or 0)
            results = await pool.ocr(ticket, doc.source, chosen, images)
        return build_response(results, pool.model, doc.size_bytes, body.image_limit,
                              bool(body.include_image_base64), bool(body.include_blocks),
                              body.confidence_scores_granularity)


def _file_routes(app: FastAPI) -> None:
    @app.post("/v1/files", response_model=FileObject)
    async def upload(request: Request, file: Annotated[UploadFile, File()],
                     purpose: Annotated[str, Form()] = "ocr") -> FileObject:
        store: FileStore = request.app.state.files
        return await run_in_threadpool(store.save, file.file, file.filename or "upload", purpose)

    @app.get("/v1/files/{file_id}", response_model=FileObject)
    async def retrieve(request: Request, file_id: str) -> FileObject:
        return request.app.state.files.get(file_id)  # type: ignore[no-any-return]

    @app.get("/v1/files/{file_id}/url", response_model=SignedURL)
    async def signed_url(request: Request, file_id: str,
                         expiry: Annotated[int, Query(ge=1, le=168)] = 24) -> SignedURL:
        # /v1/ocr resolves this URL from the local store: it is never fetched over the network
        request.app.state.files.get(file_id)
        base = str(request.base_url).rstrip("/")
        return SignedURL(url=f"{base}{file_content_path(file_id)}")

    @app.get("/v1/files/{file_id}/content")
    async def content(request: Request, file_id: str) -> FileResponse:
        store: FileStore = request.app.state.files
        meta = store.get(file_id)
        return FileResponse(store.path(file_id), media_type=meta.mimetype or "application/octet-stream",
                            filename=meta.filename)

    @app.delete("/v1/files/{file_id}", response_model=DeletedFile)
    async def delete(request: Request, file_id: str) -> DeletedFile:
        request.app.state.files.delete(file_id)
        return DeletedFile(id=file_id)
