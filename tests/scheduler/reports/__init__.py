"""Tests of `scheduler/reports/`."""
