"""Tests of `worker/ranges/`."""
