#!/usr/bin/env bash
# The demo: embedded default (SQLite, jobs inline, no servers). Sets up .venv, migrates,
# imports a catalogue (a generated synthetic one unless CATALOGUE is given), runs the
# matching pipeline, creates an admin and three validators, prints their passwords and
# serves on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export DEBUG=${DEBUG:-1} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
unset DATABASE_URL REDIS_URL
catalogue=${1:-}
.venv/bin/python manage.py migrate --no-input -v0
if [[ -z "$catalogue" ]]; then
  .venv/bin/python manage.py demo
else
  .venv/bin/python manage.py demo --catalogue "$catalogue"
fi
exec .venv/bin/python manage.py runserver "${DEMO_ADDRESS:-127.0.0.1:8000}" --noreload
