"""Watched folders: each complete file dropped in becomes a document, exactly once.

- `after.py`: What happens to a watched file once pagemill has it: keep it, move it aside, or delete it.
- `folder.py`: One watched folder: every complete file dropped in becomes a document, exactly once.
- `stability.py`: When is a file complete? When nothing has touched it for `settle_s` and it can be opened.
- `start.py`: Watched folders: settings, and starting the watchers for `pagemill watch` and `pagemill scheduler`.
"""
