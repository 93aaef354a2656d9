"""A pytest plugin that runs the collected tests in another order, to show that no test depends on another.

    python -m pytest -p tests.ordering --order reverse
    python -m pytest -p tests.ordering --order shuffle:7

Not loaded by default (CI runs the usual order). Hand-written rather than pytest-randomly, which activates itself
wherever it is installed, so it would shuffle CI too and reseed `random` in every test.
"""

from __future__ import annotations

import random

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--order", default="file", help="file (as collected), reverse, or shuffle:SEED")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = str(config.getoption("--order"))
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(int(order.split(":", 1)[1])).shuffle(items)
    elif order != "file":
        raise pytest.UsageError(f"--order {order!r}: use file, reverse or shuffle:SEED")


def pytest_report_header(config: pytest.Config) -> str:
    return f"test order: {config.getoption('--order')}"
