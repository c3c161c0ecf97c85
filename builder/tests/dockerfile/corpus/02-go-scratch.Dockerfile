FROM golang:1.21 as builder
WORKDIR /go/src/app
COPY . .
RUN go get -d -v ./... && \
    CGO_ENABLED=0 go install -v ./...

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=builder /go/bin/app /app
ENTRYPOINT ["/app"]
