# The project image: every role of the pipeline (`inventory worker|projector|gateway`,
# the one-shot `inventory stream create-topics` / `inventory db migrate`).
#   docker build -t inventory-stream .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e DATABASE_URL=... inventory-stream inventory worker

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml and pinned by constraints.txt, in their own
# layer: editing the code does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install -c constraints.txt -r requirements.txt

COPY README.md ./
COPY topics ./topics
COPY storage ./storage
COPY agents ./agents
COPY api ./api
COPY inventory ./inventory
RUN pip install -c constraints.txt .


FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Same base image and path as the build stage, so the venv works as copied.
COPY --from=build /opt/venv /opt/venv

# Non-root. The work dir must be writable: faust keeps its `<app id>-data` dir there.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/inventory --create-home inventory
WORKDIR /var/lib/inventory
USER inventory

EXPOSE 8080
CMD ["inventory", "gateway"]
