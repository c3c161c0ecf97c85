# syntax=docker/dockerfile:1
FROM debian:bookworm
RUN <<EOT bash
  set -ex
  apt-get update
  apt-get install -y vim
EOT
RUN <<EOF
#!/usr/bin/env python3
print("hello from python heredoc")
EOF
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
