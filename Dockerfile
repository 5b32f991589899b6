# minemap: build wheels in one stage, run from a slim image as a non-root user.
# (This machine has no Docker engine; the image is kept simple so it builds where one exists.)
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS runtime
# pg_dump/pg_restore for `minemap backup|restore`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 appuser
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY migrations ./migrations
COPY data ./data
COPY scripts/docker-entrypoint.sh /usr/local/bin/minemap-entrypoint
USER appuser
ENV MINEMAP_HOST=0.0.0.0 MINEMAP_PORT=8000
EXPOSE 8000
ENTRYPOINT ["minemap-entrypoint"]
CMD ["minemap", "serve"]
