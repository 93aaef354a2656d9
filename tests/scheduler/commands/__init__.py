"""Tests of `scheduler/commands/`."""
