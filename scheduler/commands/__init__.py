"""Command groups of the `pagemill` CLI: each module has `register(app)`."""
