"""Tests of `worker/extraction/`."""
