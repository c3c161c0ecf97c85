FROM klakegg/hugo:0.111.3-ext-alpine AS build
COPY . /src
RUN hugo --minify --gc

FROM nginx:stable-alpine
COPY --from=build /src/public /usr/share/nginx/html
