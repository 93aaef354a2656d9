"""Tests of `scheduler/intake/`."""
