"""Tests of `scheduler/watch/`."""
