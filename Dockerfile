# One image for the four Budskab services; docker-compose.yml and deploy/k8s pick the
# service with the command, e.g. `python -m services.events`.
#
#   docker build -t budskab:local .
#   docker run --rm -p 8001:8001 -e PLANNING_DATABASE_URL=... budskab:local
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 budskab \
    && useradd --system --uid 10001 --gid budskab --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin budskab

# Third-party dependencies first, pinned by requirements.lock (a `pip freeze` list), in
# their own layer so that a code change does not reinstall them. The lock's line for
# the project itself (`-e .` / `budskab==...`), if any, is dropped: the project is
# installed from source below.
COPY requirements.lock /tmp/requirements.lock
RUN grep -Ev '^[[:space:]]*(-e[[:space:]]|--editable|budskab([[:space:]]*[=@<>~!]|[[:space:]]*$))' \
        /tmp/requirements.lock > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.lock /tmp/requirements.txt

# The project itself (shared/ and services/, with their migrations), without touching
# the pinned dependencies; the source copy is removed so only the installed package runs.
COPY . /tmp/src
RUN pip install --no-deps /tmp/src \
    && pip check \
    && rm -rf /tmp/src

# An unprivileged working directory: nothing in it shadows the installed package, and the
# embedded-SQLite default (var/) would be created here if no DATABASE_URL is set. It holds
# the two deploy commands the one-shot containers run from here, `python -m scripts.topics`
# (create the Kafka topics) and `python -m scripts.migrate` (run migrations); they import
# only the installed shared/ and services/.
WORKDIR /app
COPY scripts/__init__.py scripts/topics.py scripts/migrate.py /app/scripts/
RUN chown budskab:budskab /app
USER budskab:budskab

CMD ["python", "-m", "services.planning"]
