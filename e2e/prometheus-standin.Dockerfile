# A stand-in for prom/prometheus, built from Debian's prometheus package, for machines that
# cannot pull images (.ci/run builds it only when prom/prometheus:<tag> is missing). It keeps
# what docker-compose.prod.yml relies on: the prometheus binary as entrypoint, user nobody
# (65534), /prometheus writable by it, and busybox wget for the health check. Debian's
# Prometheus is older than the tag; the configuration in deploy/monitoring works with both.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus busybox \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /bin/busybox /usr/local/bin/wget \
    && install -d -o 65534 -g 65534 /prometheus /etc/prometheus
LABEL org.opencontainers.image.description="offline stand-in for prom/prometheus"
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
