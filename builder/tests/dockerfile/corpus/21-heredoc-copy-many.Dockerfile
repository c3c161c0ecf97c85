# syntax=docker/dockerfile:1
FROM busybox
ARG GREETING=hello
COPY <<file1 <<file2 /dest/
contents of file1 say $GREETING
file1
contents of file2
file2
COPY --chmod=755 <<'EOF' /usr/local/bin/entry
#!/bin/sh
exec "$@"
EOF
ENTRYPOINT ["/usr/local/bin/entry"]
