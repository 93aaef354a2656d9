"""Loaded at start-up by test subprocesses whose PYTHONPATH includes this folder: registers the fake providers.

Production code has no test hook; tests reach worker processes through this file only."""

import os

if os.environ.get("PAGEMILL_TEST_FAKES") == "1":
    from tests.fakes.slow import register

    register()
