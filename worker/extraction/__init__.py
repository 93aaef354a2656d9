"""Structured extraction: a JSON schema turns a document into one row of fields (the `fields` table).

schema.py (load and check a schema file, validate answers), answer.py (read a model's answer as JSON),
prompt.py (what of a document is sent, within a budget), settings.py (ExtractSettings), client.py (the chat
request with `response_format: json_schema`), store.py (the `fields` and `field_schemas` rows), extract.py
(one document from stored markdown to a fields row). The OCR-request side (document_annotation_format) is in
worker/providers/mistral_request.py; annotation.py turns an OCR response's annotation into a fields row.
"""

__all__ = ["ANNOTATE_KEY"]

# set in a document's options at intake when its pages go as one annotated OCR request (scheduler/intake/register.py)
ANNOTATE_KEY = "annotate_in_request"
