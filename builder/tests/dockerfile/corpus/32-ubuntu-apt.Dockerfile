FROM ubuntu:22.04
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y \
    curl \
    git \
    # build tools
    build-essential \
    cmake \

    python3 \
  && rm -rf /var/lib/apt/lists/*
ENV TZ=Etc/UTC
