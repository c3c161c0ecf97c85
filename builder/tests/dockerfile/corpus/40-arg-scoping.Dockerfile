ARG VERSION=latest
ARG REGISTRY=docker.io
FROM ${REGISTRY}/library/busybox:${VERSION} AS one
ARG VERSION
RUN echo "building ${VERSION}"
ARG BUILD_DATE
LABEL org.opencontainers.image.created=$BUILD_DATE \
      org.opencontainers.image.version=${VERSION:-dev}

FROM one AS two
ENV VERSION=from-env
ARG VERSION=from-arg
RUN echo $VERSION
