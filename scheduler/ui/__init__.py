"""`pagemill ui`: the review page in a browser (see app.py)."""
