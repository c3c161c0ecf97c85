FROM ubuntu
ENTRYPOINT exec top -b
