FROM busybox
VOLUME ["/var/log"]
VOLUME /var/db /var/cache
VOLUME [ "/a", "/b" ]
