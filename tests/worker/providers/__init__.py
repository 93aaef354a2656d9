"""Tests of `worker/providers/`."""
