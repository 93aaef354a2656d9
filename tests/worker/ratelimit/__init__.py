"""Tests of `worker/ratelimit/`."""
