FROM alpine:3.19
RUN addgroup -S app && adduser -S app -G app
USER app
WORKDIR /home/app
WORKDIR src
ENV HOME=/home/app
WORKDIR $HOME/work
USER 1000:1000
