"""Tests of `scheduler/launch/`."""
