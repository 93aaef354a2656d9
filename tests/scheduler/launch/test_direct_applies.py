"""When a run goes to direct processes rather than Celery workers (scheduler/launch/direct.py)."""

from __future__ import annotations

import pytest

from scheduler.launch.direct import direct_applies
from worker.settings import WorkerSettings


def test_a_small_embedded_local_job_is_direct_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = WorkerSettings()
    assert direct_applies(settings, 0) and direct_applies(settings, 100)
    assert not direct_applies(settings, 101)
    monkeypatch.setenv("PAGEMILL_DIRECT_MAX_PAGES", "3")
    assert direct_applies(settings, 3) and not direct_applies(settings, 4)
    monkeypatch.setenv("PAGEMILL_DIRECT_MAX_PAGES", "0")
    assert not direct_applies(settings, 0)  # turned off


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAGEMILL_BROKER_URL", "redis://127.0.0.1:6379/0"),  # other workers may share that queue
        ("PAGEMILL_PROVIDER", "mistral"),  # HTTP: a threads pool does it better
        ("PAGEMILL_VISION_BASE_URL", "http://127.0.0.1:9/"),  # the vision step runs as Celery tasks
        ("PAGEMILL_SCHEMA", "invoice.schema.json"),  # so do the fields of a schema
        ("PAGEMILL_IMAGE_SCHEMA", "figure.schema.json"),
    ],
)
def test_a_broker_an_http_provider_the_vision_step_or_a_schema_means_celery_workers(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert not direct_applies(WorkerSettings(), 1)
