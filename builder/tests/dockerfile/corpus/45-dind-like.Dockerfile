FROM docker:25-cli
RUN set -eux; \
	apk add --no-cache \
		btrfs-progs \
		e2fsprogs \
		iptables \
		ip6tables \
		openssl \
		xfsprogs \
		xz \
	; \
	addgroup -S dockremap
VOLUME /var/lib/docker
EXPOSE 2375 2376
ENTRYPOINT ["dockerd-entrypoint.sh"]
CMD []
