# Production image: gunicorn serving Django; the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install .
COPY . .

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/media /app/staticfiles \
    && PRODUCTION=true ALLOW_TEST_PAYMENTS=true SECRET_KEY=collectstatic-only-build-key-not-used-at-runtime-0123456789 \
       DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --no-input \
    && chown -R app:app /app/media
USER app

EXPOSE 8000
CMD ["gunicorn", "-c", "marketplace/gunicorn.conf.py", "marketplace.wsgi"]
