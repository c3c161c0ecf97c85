# syntax=docker/dockerfile:1
# check=skip=JSONArgsRecommended,RedundantTargetPlatform;error=true
ARG BUILDKIT_SBOM_SCAN_CONTEXT=true
FROM --platform=${BUILDPLATFORM} alpine AS xx
ARG TARGETPLATFORM
RUN echo "building for ${TARGETPLATFORM} on ${BUILDPLATFORM:-unknown}"
FROM --platform=$TARGETPLATFORM alpine
COPY --from=xx /etc/os-release /xx-os-release
CMD echo done
