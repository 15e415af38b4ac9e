# ChargeGraph: the GraphQL API server.
# Configure with MONGODB_URI (a MongoDB replica set) and CHARGEGRAPH_DB; without
# MONGODB_URI it runs the embedded database under /data (mount a volume there).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHARGEGRAPH_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph ./graph
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app chargegraph \
    && mkdir -p /data \
    && chown chargegraph /data

USER chargegraph
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["chargegraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
