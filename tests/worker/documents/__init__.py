"""Tests of `worker/documents/`."""
