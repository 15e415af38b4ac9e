# ChargeGraph: the GraphQL API server (and OCPP endpoint for charge stations).
# Configure with MONGODB_URI (a MongoDB replica set) and the CHARGEGRAPH_*
# variables in the README; without MONGODB_URI it runs the embedded database
# under /data (mount a volume there). deploy/compose.yaml is the production shape.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# Build the wheel in a throwaway stage, so the runtime image holds no build tools.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY graph ./graph
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHARGEGRAPH_DATA_DIR=/data \
    CHARGEGRAPH_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /app chargegraph \
    && mkdir -p /app /data \
    && chown chargegraph /app /data
WORKDIR /app
USER chargegraph
EXPOSE 8000
# Ready: the database answers and the change stream runs (GET /readyz, 503 otherwise).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["chargegraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
