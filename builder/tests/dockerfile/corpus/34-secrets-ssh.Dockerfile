# syntax=docker/dockerfile:1
FROM alpine
RUN apk add --no-cache openssh-client git
RUN mkdir -p -m 0700 ~/.ssh && ssh-keyscan github.com >> ~/.ssh/known_hosts
RUN --mount=type=ssh git clone git@github.com:example/private.git /src
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials \
    aws s3 cp s3://bucket/file /file
RUN --mount=type=secret,id=token,env=GITHUB_TOKEN,required=true \
    echo "token is set"
RUN --mount=type=tmpfs,target=/tmp,size=64m ls /tmp
RUN --network=none --security=sandbox echo offline
