"""Planning: which pages, in which ranges."""

import pytest

from models.errors import ConfigError
from scheduler.intake.plan import parse_pages, split_ranges


def test_no_selection_means_every_page() -> None:
    assert parse_pages(None, 4) == [0, 1, 2, 3]


def test_selection_uses_the_mistral_pages_syntax() -> None:
    assert parse_pages("0-3,7", 10) == [0, 1, 2, 3, 7]
    assert parse_pages([5, 1, 1], 10) == [1, 5]


def test_pages_past_the_end_are_dropped() -> None:
    assert parse_pages("2-9", 4) == [2, 3]


@pytest.mark.parametrize("bad", ["a-b", "3-1", "-2", "1,,x"])
def test_unreadable_selection_says_how_to_write_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="0-based"):
        parse_pages(bad, 10)


def test_ranges_hold_at_most_pages_per_task() -> None:
    assert split_ranges(list(range(20)), 8) == [list(range(8)), list(range(8, 16)), list(range(16, 20))]


def test_ranges_never_exceed_the_provider_page_limit() -> None:
    ranges = split_ranges(list(range(2500)), 5000, max_pages_per_request=1000)
    assert [len(r) for r in ranges] == [1000, 1000, 500]
