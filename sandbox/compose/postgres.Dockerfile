# PostgreSQL from Debian's packages in the base image (PG_MAJOR=15), or the machine's PostgreSQL
# 14 build copied in (PGHOST: its client defaults to /tmp, the official image to
# /var/run/postgresql) (build context: this dir plus pg14/, made by up.sh).
FROM compose-demo/base:bookworm
ARG PG_MAJOR
ENV PG_MAJOR=$PG_MAJOR PGDATA=/var/lib/postgresql/data PGHOST=/var/run/postgresql \
    PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY pg${PG_MAJOR}/ /usr/lib/postgresql/${PG_MAJOR}/
RUN set -e; for v in /usr/lib/postgresql/*; do [ "$v" = "/usr/lib/postgresql/$PG_MAJOR" ] || rm -rf "$v"; done; \
    "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version | grep -q " $PG_MAJOR\."; \
    mkdir -p /docker-entrypoint-initdb.d
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
