"""Tests of `worker/batch/`."""
