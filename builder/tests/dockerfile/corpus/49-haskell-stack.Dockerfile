FROM haskell:9.6 AS build
WORKDIR /opt/build
COPY stack.yaml package.yaml stack.yaml.lock /opt/build/
RUN stack build --system-ghc --dependencies-only
COPY . /opt/build
RUN stack build --system-ghc --copy-bins --local-bin-path /opt/bin

FROM ubuntu:22.04
RUN apt-get update && apt-get install -y ca-certificates libgmp10 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/bin/server /usr/local/bin/server
CMD ["server"]
