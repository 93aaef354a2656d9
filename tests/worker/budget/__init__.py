"""Tests of `worker/budget/`."""
