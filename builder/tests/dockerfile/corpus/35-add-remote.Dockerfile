# syntax=docker/dockerfile:1
FROM alpine:3.19
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://mirrors.edge.kernel.org/pub/linux/kernel/Historic/linux-0.01.tar.gz /
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit
ADD --chown=1000:1000 --chmod=644 files/ /srv/files/
ADD rootfs.tar.xz /
ADD --link --exclude=*.md docs /docs
