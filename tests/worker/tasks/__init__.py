"""Tests of `worker/tasks/`."""
