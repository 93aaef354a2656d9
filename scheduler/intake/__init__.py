"""The path of a submitted file, in order: which names are documents (`ignore.py`), the file stored and
inspected (`prepare.py`), registered and deduplicated (`register.py`, many at once in `batch.py`), its fields
asked for (`fields.py`), its pages split into ranges (`plan.py`).

- `batch.py`: Intake of many files at disk speed: hashing and copying overlap the grouped database and broker ...
- `fields.py`: What intake does for a document's fields (structured extraction): the run's schemas stored once, a ...
- `ignore.py`: Which names in a watched folder are never documents.
- `plan.py`: Planning: which pages of a document to OCR, split into page ranges (one Celery task each).
- `prepare.py`: A file stored in the object store and inspected, with no database work: what intake's threads do ...
- `register.py`: Intake: store a file (hashing while copying), inspect it, dedup it, and plan its page ranges.
- `types.py`: What every step is given: the options of one submission (`IntakeOptions`).
"""
