"""Tests of `worker/vision/`."""
