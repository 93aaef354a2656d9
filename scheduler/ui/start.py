"""Starting `pagemill ui` (kept out of the CLI module so fastapi and uvicorn load only for this command)."""

from __future__ import annotations

__all__ = ["start"]


def start(host: str | None, port: int | None) -> str | None:
    """Run the review page until stopped; returns the reason when it refuses to start."""
    import uvicorn

    from .app import create_app
    from .security import Guard
    from .settings import UiSettings

    given = {"host": host, "port": port}
    settings = UiSettings(**{k: v for k, v in given.items() if v is not None})  # the rest: environment
    refusal = Guard(settings).check_startup()
    if refusal:
        return refusal
    from ..console import err_console

    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    err_console.print(f"pagemill ui: http://{shown}:{settings.port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return None
