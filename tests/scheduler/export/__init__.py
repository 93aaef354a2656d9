"""Tests of `scheduler/export/`."""
