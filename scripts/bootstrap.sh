#!/usr/bin/env bash
# Installs what fashionID needs on a fresh Debian machine, from the project's own files.
#   scripts/bootstrap.sh          Python virtual environment (.venv) with requirements.txt and
#                                 the project itself (editable, so bench/ scripts import it)
#   scripts/bootstrap.sh --system also Debian packages for tests: postgresql, redis-server, chromium
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system" ]]; then
  need=()
  [[ -x /usr/lib/postgresql/15/bin/initdb ]] || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  [[ -x /usr/bin/chromium ]] || need+=(chromium)
  if ((${#need[@]})); then
    echo "bootstrap: installing Debian packages: ${need[*]}"
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "bootstrap: installing requirements.txt into .venv (first time: a few minutes)"
  if ! .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >.venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log; echo "bootstrap: pip install failed (full log: .venv/pip.log)"; exit 1
  fi
  echo "$want" > "$stamp"
fi
# the project itself, editable, so that bench/ scripts import it (once: a .venv shared by several
# checkouts keeps pointing at the first; run bench/ scripts of the others with PYTHONPATH=.)
here=$(pwd -P)
if ! (cd / && "$here/.venv/bin/python" -c "import matching.ml, core" 2>/dev/null); then
  echo "bootstrap: installing the project into .venv (pip install --no-deps -e .)"
  if ! .venv/bin/pip install -q --disable-pip-version-check --no-deps -e . >.venv/pip-project.log 2>&1; then
    tail -n 20 .venv/pip-project.log; echo "bootstrap: pip install -e . failed (.venv/pip-project.log)"; exit 1
  fi
fi
