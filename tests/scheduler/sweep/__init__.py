"""Tests of `scheduler/sweep/`."""
