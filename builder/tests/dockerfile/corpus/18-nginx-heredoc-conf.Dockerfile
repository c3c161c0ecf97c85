# syntax=docker/dockerfile:1.4
FROM nginx:alpine
COPY <<EOF /etc/nginx/conf.d/default.conf
server {
    listen 80;
    location / {
        root /usr/share/nginx/html;
        try_files $uri $uri/ /index.html;
    }
}
EOF
COPY <<"EOF" /usr/share/nginx/html/index.html
<html><body>Hello ${NAME}</body></html>
EOF
