"""Tests of `worker/objects/`."""
