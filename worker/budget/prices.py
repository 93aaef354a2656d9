"""What one page is reserved at before a range is sent, by provider.

Mistral bills pages: PAGEMILL_PRICE_PER_1000_PAGES (the annotated rate for a document with a schema). A vision
model bills tokens, unknown until it answers: a page is reserved at a Letter/A4 page's input tokens and the high
end of the output range at the PAGEMILL_VLM_PRICE_PER_MILLION_... prices (worker/providers/vlm/cost.py), 0 when
they are unset; the reservation is then settled to the tokens the ledger recorded (hold.py). The local engine
is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["reserve_prices"]


def reserve_prices(settings: WorkerSettings) -> tuple[float, float]:
    """(per page, per annotated page) in USD for a synchronous range of the configured provider."""
    if settings.provider == "vlm":
        from ..providers.vlm.cost import reserve_per_page_usd

        per_page = reserve_per_page_usd()
        return per_page, per_page  # annotations are Mistral's; a vlm page costs its tokens either way
    return settings.price_per_1000_pages / 1000, settings.annotated_price_per_1000_pages / 1000
