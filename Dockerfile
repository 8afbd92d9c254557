# fashionID web and worker image (CPU by default; the gpu-worker service runs the same image
# with an NVIDIA device reservation; torch's PyPI build carries CUDA).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    FASHIONID_VAR_DIR=/data MEDIA_ROOT=/data/media
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --no-input -v0
EXPOSE 8000
CMD ["gunicorn", "fashionid_app.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
