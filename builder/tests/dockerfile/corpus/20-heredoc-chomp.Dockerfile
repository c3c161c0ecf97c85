FROM alpine:3.19
RUN <<-EOF
	echo "tabs are stripped"
	if true; then
		echo nested
	fi
	EOF
COPY <<-EOT /etc/app.conf
	key=value
	other=thing
	EOT
