FROM python:3.10-alpine
LABEL maintainer="ops@example.com" \
      org.opencontainers.image.source="https://example.com/app"
RUN apk add --no-cache --virtual .build-deps gcc musl-dev postgresql-dev \
    && apk add --no-cache libpq
WORKDIR /code
COPY requirements/ /code/requirements/
RUN pip install -r requirements/production.txt \
    && apk del .build-deps
COPY . /code/
RUN python manage.py collectstatic --noinput
VOLUME /code/media
EXPOSE 8000
STOPSIGNAL SIGINT
CMD python manage.py migrate && gunicorn project.wsgi -b 0.0.0.0:8000
