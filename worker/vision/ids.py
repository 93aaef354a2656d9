"""Names the vision step writes into the images table, for readers that need no vision client (`export`)."""

from __future__ import annotations

__all__ = ["PAGE_IMAGE_ID"]

PAGE_IMAGE_ID = "pagemill:page"  # provider_id of an image row that is a whole page of an image document
