"""Tests of `worker/server/`."""
