FROM alpine AS base
RUN echo base
FROM base AS dev
RUN echo dev
FROM base AS lint
RUN echo lint
FROM base AS prod
COPY --from=lint /etc/hostname /lint-ok
RUN echo prod
FROM dev
