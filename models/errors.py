"""The one exception tree of pagemill, with a typed code stored beside every readable message.

    PagemillError                 code=other
    ├── InputError                code=input        (the file itself is the problem; never retried)
    │   ├── EmptyInput            code=empty
    │   ├── UnsupportedFormat     code=unsupported
    │   ├── CorruptInput          code=corrupt
    │   ├── EncryptedInput        code=encrypted
    │   ├── OversizedInput        code=too_large
    │   └── SchemaRefused         code=bad_schema   (an extraction schema file that cannot be used)
    ├── ProviderError             code=provider     (the OCR or vision service failed)
    │   ├── RateLimited           code=rate_limited (retryable, carries retry_after_s)
    │   ├── ProviderUnavailable   code=unavailable  (retryable: 5xx, timeouts, connection errors)
    │   ├── ProviderRejected      code=rejected     (400/404/422: this request will never work)
    │   ├── ProviderAuthError     code=auth         (401/403: stop the job, check the key)
    │   ├── BatchNotEnabled       code=batch_billing (402 from the Batch API: enable it, or run without --batch)
    │   ├── MalformedResponse     code=malformed    (retryable: the body did not match the contract)
    │   └── InvalidFields         code=invalid_fields (an extraction answer that is not JSON of the schema)
    ├── EngineError               code=engine       (the local engine failed on a page)
    ├── StorageError              code=storage
    │   ├── ObjectMissing         code=object_missing   (an object the database names is not in the store)
    │   ├── ObjectCorrupt         code=object_corrupt   (its bytes do not match its SHA-256: truncated, replaced)
    │   ├── StoreUnavailable      code=store_unavailable (retryable: the bucket cannot be reached, 5xx)
    │   ├── DiskFull              code=disk_full        (retryable: a host's disk or quota is full)
    │   ├── StoreAuthError        code=store_auth       (credentials missing or refused)
    │   └── BucketMissing         code=bucket_missing   (the bucket named in PAGEMILL_OBJECTS_URL does not exist)
    ├── ConfigError               code=config
    ├── BudgetExceeded            code=budget       (the range waits in `held`: raise the budget to let it go)
    └── Cancelled                 code=cancelled

The code lives in the bottom layer because it is persisted on documents and page ranges.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ErrorCode",
    "PagemillError",
    "InputError",
    "EmptyInput",
    "UnsupportedFormat",
    "CorruptInput",
    "EncryptedInput",
    "OversizedInput",
    "SchemaRefused",
    "ProviderError",
    "RateLimited",
    "ProviderUnavailable",
    "ProviderRejected",
    "ProviderAuthError",
    "MalformedResponse",
    "InvalidFields",
    "EngineError",
    "StorageError",
    "ObjectMissing",
    "ObjectCorrupt",
    "StoreUnavailable",
    "DiskFull",
    "StoreAuthError",
    "BucketMissing",
    "ConfigError",
    "Cancelled",
    "BatchNotEnabled",
    "BudgetExceeded",
]


class ErrorCode(StrEnum):
    other = "other"
    input = "input"
    empty = "empty"
    unsupported = "unsupported"
    corrupt = "corrupt"
    encrypted = "encrypted"
    too_large = "too_large"
    bad_schema = "bad_schema"
    provider = "provider"
    rate_limited = "rate_limited"
    unavailable = "unavailable"
    rejected = "rejected"
    auth = "auth"
    malformed = "malformed"
    invalid_fields = "invalid_fields"
    engine = "engine"
    storage = "storage"
    disk_full = "disk_full"
    object_missing = "object_missing"
    object_corrupt = "object_corrupt"
    store_unavailable = "store_unavailable"
    store_auth = "store_auth"
    bucket_missing = "bucket_missing"
    config = "config"
    cancelled = "cancelled"
    worker_lost = "worker_lost"
    batch_billing = "batch_billing"
    budget = "budget"


class PagemillError(Exception):
    """Base class: `code` is stored, `str(err)` is the readable message shown to users."""

    code: ErrorCode = ErrorCode.other
    retryable: bool = False
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # results a provider obtained (and was billed for) before failing on the rest of a range
        self.partial: object | None = None


class InputError(PagemillError):
    code = ErrorCode.input
    exit_code = 2


class EmptyInput(InputError):
    code = ErrorCode.empty


class UnsupportedFormat(InputError):
    code = ErrorCode.unsupported


class CorruptInput(InputError):
    code = ErrorCode.corrupt


class EncryptedInput(InputError):
    code = ErrorCode.encrypted


class OversizedInput(InputError):
    code = ErrorCode.too_large


class SchemaRefused(InputError):
    code = ErrorCode.bad_schema


class ProviderError(PagemillError):
    code = ErrorCode.provider
    exit_code = 4


class RateLimited(ProviderError):
    code = ErrorCode.rate_limited
    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None, sent: bool = True) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        # False when our own limiter refused before any request left: that costs the range no attempt
        self.sent = sent


class ProviderUnavailable(ProviderError):
    code = ErrorCode.unavailable
    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderRejected(ProviderError):
    code = ErrorCode.rejected


class ProviderAuthError(ProviderError):
    code = ErrorCode.auth
    exit_code = 5


class MalformedResponse(ProviderError):
    code = ErrorCode.malformed
    retryable = True


class InvalidFields(ProviderError):
    """The model answered, but not with JSON that validates against the schema (asking again may help once)."""

    code = ErrorCode.invalid_fields


class EngineError(PagemillError):
    code = ErrorCode.engine


class StorageError(PagemillError):
    code = ErrorCode.storage


class ObjectMissing(StorageError):
    code = ErrorCode.object_missing


class ObjectCorrupt(StorageError):
    """Retryable: a partial upload or download is the usual cause, and the next attempt reads it again."""

    code = ErrorCode.object_corrupt
    retryable = True


class StoreUnavailable(StorageError):
    code = ErrorCode.store_unavailable
    retryable = True


class DiskFull(StorageError):
    """Retryable: a host's disk (its object folder, its cache of originals) or quota is full. Space comes back (a
    cache trim, an operator), and meanwhile another host may take the range; the attempts stay capped."""

    code = ErrorCode.disk_full
    retryable = True


def storage_error(message: str, exc: OSError) -> StorageError:
    """The StorageError for a failed write on this host: DiskFull when the disk or quota is full."""
    import errno

    text = f"{message}: {exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(text)
    return StorageError(text)


class StoreAuthError(StorageError):
    code = ErrorCode.store_auth
    exit_code = 5


class BucketMissing(StorageError):
    code = ErrorCode.bucket_missing
    exit_code = 3


class ConfigError(PagemillError):
    code = ErrorCode.config
    exit_code = 3


class Cancelled(PagemillError):
    code = ErrorCode.cancelled


class BatchNotEnabled(ProviderError):
    code = ErrorCode.batch_billing
    exit_code = 5


class BudgetExceeded(PagemillError):
    """Not a failure: the range is held until the budget allows it."""

    code = ErrorCode.budget
