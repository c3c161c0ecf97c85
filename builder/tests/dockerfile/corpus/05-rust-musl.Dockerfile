# Static Rust binary on scratch
FROM rust:1.77-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /usr/src/app
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && cargo build --release && rm -rf src
COPY src ./src
RUN touch src/main.rs && cargo build --release

FROM scratch
COPY --from=build /usr/src/app/target/release/app /app
USER 65534:65534
ENTRYPOINT ["/app"]
