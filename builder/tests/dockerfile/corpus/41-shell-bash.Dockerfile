FROM debian:bookworm
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.com/install.sh | bash
SHELL ["/bin/sh", "-c"]
RUN echo done
