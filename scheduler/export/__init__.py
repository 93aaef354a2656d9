"""A finished document out of pagemill: markdown with its images, Mistral-shaped JSON, a zip, a searchable PDF.

- `archive.py`: The archive (--archive): each finished document's searchable PDF in a folder or bucket, kept current.
- `document.py`: Exports of a finished document: markdown with its images, the Mistral OCR response as JSON, or a ...
- `page_markdown.py`: A stored page as a person reads it: each table at its placeholder, headers and footers on request.
- `pdf.py`: The original pages with an invisible text layer where OCR read them (pikepdf grafts).
- `pdf_font.py`: The glyphless Type0 font of the text layer: any script, nothing drawn, ~700 bytes a document.
- `pdf_layer.py`: The invisible text layer of one page of a searchable PDF: where the words go, and drawing them.
- `parts.py`: The optional parts of stored pages (tables, blocks, header/footer, links, confidence) for the ...
"""
