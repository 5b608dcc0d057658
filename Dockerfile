# convnet-vis: the API and the page with the bundled models.
# Untested here: the build machines have no Docker engine. See README.md, "Docker".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    CONVNET_VIS_MODELS_DIR=/app/models CONVNET_VIS_CACHE_DIR=/app/.cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY bench ./bench
# Editable, so the app finds models/, static/ and templates/ beside it in /app.
RUN pip install --no-cache-dir -e .
COPY models ./models
COPY static ./static
COPY templates ./templates

RUN useradd --create-home appuser && mkdir -p /app/.cache && chown appuser /app/.cache
USER appuser
EXPOSE 8000
# Ready, not only alive: a container serving no model (missing or broken files) is unhealthy.
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/ready')"
# SIGTERM: long jobs get CONVNET_VIS_SHUTDOWN_GRACE_SECONDS (10), the process is gone 2 s later;
# docker stop waits 10 s by default, so give it more: docker stop -t 15.
# Each worker loads the models once; set WORKERS to the number of cores you give the container.
CMD ["sh", "-c", "python -m app serve --host 0.0.0.0 --port 8000 --workers ${WORKERS:-2}"]
