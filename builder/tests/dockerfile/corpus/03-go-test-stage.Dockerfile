FROM golang:1.22 AS base
WORKDIR /app
COPY go.* ./
RUN go mod download

FROM base AS test
COPY . .
RUN go vet ./... && go test -race ./...

FROM base AS build
COPY . .
RUN go build -o /bin/api ./cmd/api

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /bin/api /usr/local/bin/api
CMD ["api", "--listen", ":8080"]
