FROM python:3.12-alpine
RUN <<EOF
pip install --no-cache-dir requests
python - <<'PY'
import requests
print(requests.__version__)
PY
EOF
WORKDIR /srv
CMD ["python", "-m", "http.server"]
