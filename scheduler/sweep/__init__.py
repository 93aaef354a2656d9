"""Periodic sweeps: the database, not the broker, decides what still needs doing (and batch mode's jobs).

- `batch_poller.py`: Batch mode's part of every sweep: form jobs from queued batch ranges, send them, poll them, collect ...
- `periodic.py`: Periodic sweeps: the database, not the broker, decides what still needs doing.
"""
