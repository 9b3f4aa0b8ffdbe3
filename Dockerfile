# pulse as a container: `docker compose up` (docker-compose.yml) runs it beside Redis 7
# and a Kafka-compatible broker. Redis is not inside this image: compose provides it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY dataflows ./dataflows
COPY rules/default.yaml ./rules/default.yaml
COPY docs ./docs
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin pulse \
    && install -d -o pulse -g pulse /home/pulse/recovery /home/pulse/out
USER pulse
WORKDIR /home/pulse
# Settings come from flags, PULSE_* variables or a config file (README, Settings).
ENV PULSE_LOG_FORMAT=json
ENTRYPOINT ["pulse"]
CMD ["--help"]
