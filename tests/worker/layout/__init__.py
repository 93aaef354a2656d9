"""Tests of `worker/layout/`."""
