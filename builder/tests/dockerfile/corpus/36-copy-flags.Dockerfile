# syntax=docker/dockerfile:1.7-labs
FROM alpine AS src
RUN mkdir -p /a/b/c && touch /a/b/c/file

FROM alpine
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --exclude=*.txt --exclude=tmp/ . /app/
COPY --link --from=src /a /a
COPY --from=0 /a/b /b
COPY --chmod=0755 --chown=nobody:nogroup ["run.sh", "/usr/local/bin/run.sh"]
COPY --from=busybox:1.36 /bin/busybox /bin/busybox
