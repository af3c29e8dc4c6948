# The stack's app service (app.sh), on the base image's psql.
FROM compose-demo/base:bookworm
COPY app.sh /usr/local/bin/app.sh
CMD ["app.sh"]
