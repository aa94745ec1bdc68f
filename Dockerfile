# MedSync — one Dockerfile for every service.
#
#   docker build --target api     -t medsync/api .      # likewise: webhook, bot, worker, web,
#                                                         # manage, backup, docs
#   docker build --target dev     -t medsync/dev .      # development image (hot reload)
#
# Stages: chef (toolchain + cargo-chef) → planner (dependency recipe) → builder (dependencies
# compiled in their own cached layer, then the workspace) → one small non-root image per binary.
# A change to the project's own code reuses the dependency layer and rebuilds only the workspace.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# The backup image's PostgreSQL client programs: the server's major version (the db image's tag
# in the compose files), as pg_dump refuses a newer server.
ARG POSTGRES_MAJOR=16

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry"
WORKDIR /app
# No sqlx query macro is used (every query runs in the integration tests against a real
# PostgreSQL instead), so a build needs neither a database nor .sqlx/ metadata; SQLX_OFFLINE
# keeps it so: a macro added without committed metadata fails the build here, not at run time.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# The dependency recipe: changes only when a Cargo.toml or Cargo.lock does.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---------------------------------------------------------------------------------------------
# Production build.
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json
# Only what the binaries are built from: a change to docs, nginx or scripts rebuilds nothing.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY services services
COPY migrations migrations
# The Telegram simulator is a test tool: the production build leaves it out (tgsim-builder).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --workspace --exclude medsync-tgsim --bins \
    && mkdir -p /out \
    && cp target/release/api target/release/webhook target/release/bot \
          target/release/worker target/release/web target/release/manage \
          target/release/backup /out/

# Only the tgsim image (tests, the dev profile) builds this stage.
FROM builder AS tgsim-builder
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked -p medsync-tgsim --bin tgsim \
    && cp target/release/tgsim /out/

# One binary on distroless cc (glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager), as the unprivileged user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.vendor="MedSync" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/medsync/medsync"
USER nonroot:nonroot
WORKDIR /home/nonroot

FROM runtime AS api
LABEL org.opencontainers.image.title="medsync-api" \
      org.opencontainers.image.description="MedSync HTTP API"
COPY --from=builder /out/api /usr/local/bin/api
ENV API_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/api"]

FROM runtime AS webhook
LABEL org.opencontainers.image.title="medsync-webhook" \
      org.opencontainers.image.description="MedSync Telegram webhook receiver"
COPY --from=builder /out/webhook /usr/local/bin/webhook
ENV WEBHOOK_LISTEN_ADDR=0.0.0.0:8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/webhook", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/webhook"]

FROM runtime AS bot
LABEL org.opencontainers.image.title="medsync-bot" \
      org.opencontainers.image.description="MedSync Telegram bot"
COPY --from=builder /out/bot /usr/local/bin/bot
ENV BOT_LISTEN_ADDR=0.0.0.0:8082
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/bot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bot"]

FROM runtime AS worker
LABEL org.opencontainers.image.title="medsync-worker" \
      org.opencontainers.image.description="MedSync job worker"
COPY --from=builder /out/worker /usr/local/bin/worker
ENV WORKER_LISTEN_ADDR=0.0.0.0:8083
EXPOSE 8083
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/worker", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/worker"]

# The web app and Mini App: its templates and assets are compiled into the binary.
FROM runtime AS web
LABEL org.opencontainers.image.title="medsync-web" \
      org.opencontainers.image.description="MedSync web app and Telegram Mini App"
COPY --from=builder /out/web /usr/local/bin/web
ENV WEB_LISTEN_ADDR=0.0.0.0:8084
EXPOSE 8084
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/web", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/web"]

# One-shot commands (migrate, seed, wait-ready): no server, so no health check.
FROM runtime AS manage
LABEL org.opencontainers.image.title="medsync-manage" \
      org.opencontainers.image.description="MedSync administration commands"
COPY --from=builder /out/manage /usr/local/bin/manage
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/manage"]
CMD ["--help"]

# Backups and restores: the binary beside PostgreSQL's own pg_dump, pg_restore and psql (from
# the official image of the server's major version, Debian-based like the binary), as the
# image's unprivileged postgres user (999). Its shell is there because the image has one; the
# service never runs one.
FROM postgres:${POSTGRES_MAJOR}-${DEBIAN_RELEASE} AS backup
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.vendor="MedSync" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/medsync/medsync" \
      org.opencontainers.image.title="medsync-backup" \
      org.opencontainers.image.description="MedSync database backups and restores"
COPY --from=builder /out/backup /usr/local/bin/backup
RUN install -d -o postgres -g postgres -m 0700 /backups
USER postgres
WORKDIR /backups
ENV BACKUP_LISTEN_ADDR=0.0.0.0:8085 \
    BACKUP_DIR=/backups
EXPOSE 8085
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/backup", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/backup"]
CMD ["serve"]

# The Telegram Bot API simulator, for end-to-end tests of the production images without
# Telegram (never part of a deployment).
FROM runtime AS tgsim
LABEL org.opencontainers.image.title="medsync-tgsim" \
      org.opencontainers.image.description="Telegram Bot API simulator for MedSync's tests"
COPY --from=tgsim-builder /out/tgsim /usr/local/bin/tgsim
ENV TGSIM_LISTEN_ADDR=0.0.0.0:8090
EXPOSE 8090
HEALTHCHECK --interval=5s --timeout=5s --retries=3 CMD ["/usr/local/bin/tgsim", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tgsim"]

# The handbook (docs/, an mdBook): mdBook installed by cargo in a layer of its own (cached), the
# book built into static pages, served by busybox's httpd as user 65534 behind nginx at /docs/.
# The docs-tools stage is also the dev profile's `docs` service (mdbook serve, live reload).
FROM chef AS docs-tools
ARG MDBOOK_VERSION=0.5.4
RUN cargo install mdbook --locked --version "${MDBOOK_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry"
EXPOSE 8086

FROM docs-tools AS docs-build
COPY docs /app/docs
RUN mdbook build /app/docs --dest-dir /book

FROM busybox:1.37 AS docs
LABEL org.opencontainers.image.vendor="MedSync" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.title="medsync-docs" \
      org.opencontainers.image.description="The MedSync handbook, as static pages" \
      org.opencontainers.image.source="https://github.com/medsync/medsync"
COPY --from=docs-build /book /www
USER 65534:65534
EXPOSE 8086
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8086/"]
ENTRYPOINT ["httpd", "-f", "-v", "-p", "8086", "-h", "/www"]

# ---------------------------------------------------------------------------------------------
# Development: the source is bind-mounted at /app; dependencies are compiled here, once, into
# /cargo-target (a named volume in compose, seeded from this layer). Every dev service runs
# scripts/dev-run.sh, which rebuilds the whole workspace in one shared target directory and
# restarts its own binary when a source file changes: the first container to notice builds,
# the others wait on cargo's lock and find nothing left to compile.
FROM chef AS dev
RUN apt-get update \
    && apt-get install -y --no-install-recommends entr \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --shell /bin/sh dev \
    && mkdir -p /cargo-target \
    && chown dev:dev /app /cargo-target
USER dev
ENV CARGO_TARGET_DIR=/cargo-target \
    PATH=/cargo-target/debug:${PATH}
COPY --chown=dev:dev --from=planner /app/recipe.json /cargo-target/recipe.json
RUN cargo chef cook --locked --recipe-path /cargo-target/recipe.json
COPY --chmod=0755 scripts/dev-run.sh /usr/local/bin/dev-run
