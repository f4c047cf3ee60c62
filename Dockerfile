# The production image: one image, three processes (see docker-compose.yml). It listens on
# 0.0.0.0, so it refuses to start until an API key exists or ORDERS_OIDC_ISSUER is set.
# Dependencies from requirements.lock (every file checked against its SHA-256; `make lock`
# regenerates it), then the project itself without resolving anything again.
FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY order_service ./order_service
COPY projectors ./projectors
COPY search_api ./search_api
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 orders && mkdir -p /data && chown orders /data
USER orders
ENV ORDERS_DATA_DIR=/data ORDERS_HOST=0.0.0.0 ORDERS_PORT=8000
EXPOSE 8000
CMD ["orders", "up"]
