# One image for every pagemill service (worker, scheduler, migrate, flower, serve); see compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAGEMILL_DATA_DIR=/data

# wheels only: tesserocr bundles libtesseract and the tessdata packages bring the language data, so no apt
WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY worker ./worker
COPY scheduler ./scheduler
RUN pip install . "flower>=2"

# a named volume mounted on /data starts with this folder's owner
RUN useradd --create-home --uid 1000 pagemill \
    && mkdir -p /data /inbox \
    && chown pagemill:pagemill /data /inbox
USER pagemill

EXPOSE 9100
CMD ["pagemill", "--help"]
