"""pagemill's archive for retrieval frameworks, in optional extras so the base install does not grow.

- `langchain.py`: `PagemillLoader` (langchain-core's BaseLoader; pip install 'pagemill[langchain]').
- `llamaindex.py`: `PagemillReader` (llama-index-core's BaseReader; pip install 'pagemill[llamaindex]').
- `common.py`: what both yield: pages or chunks of the chosen documents with their metadata.
"""
