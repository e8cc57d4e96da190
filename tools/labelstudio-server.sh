#!/usr/bin/env bash
# A Label Studio server for vpbench's annotation tests and for annotating by hand.
#
# Label Studio pins its own Django, pydantic, etc., so it lives in its own
# virtualenv outside the repository (shared by every clone, reused across
# sessions): ${VPBENCH_CACHE:-$HOME/.cache/vpbench}/labelstudio-venv.
#
#   tools/labelstudio-server.sh install      # install if missing (idempotent; about 3 minutes the first time)
#   tools/labelstudio-server.sh path         # print the venv's label-studio executable
#   tools/labelstudio-server.sh start DIR [PORT]
#       # run a server in the foreground on 127.0.0.1:PORT (default 8080) that
#       # serves local files under DIR (e.g. your data root); its database is
#       # kept in $CACHE/labelstudio-server-data (VPBENCH_LABELSTUDIO_DATA),
#       # with the admin's password and legacy API token in files beside it.
set -euo pipefail

LS_VERSION="1.23.2"  # tests/helpers/labelstudio_server.py expects this version's stamp
CACHE="${VPBENCH_CACHE:-$HOME/.cache/vpbench}"
VENV="$CACHE/labelstudio-venv"
STAMP="$VENV/.vpbench-label-studio-$LS_VERSION"
PYTHON="${PYTHON:-python3}"

install() {
  if [ -f "$STAMP" ] && [ -x "$VENV/bin/label-studio" ]; then
    return 0
  fi
  mkdir -p "$CACHE"
  # Two clones installing at once would build the same venv: one waits for the other.
  exec 9>"$CACHE/.labelstudio-install.lock"
  flock 9
  if [ -f "$STAMP" ] && [ -x "$VENV/bin/label-studio" ]; then
    return 0
  fi
  # A half-made venv (interrupted install) is rebuilt from scratch.
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "label-studio==$LS_VERSION"
  # `label-studio --version` starts a server; `version` only prints.
  "$VENV/bin/label-studio" version >/dev/null 2>&1 || { echo "label-studio $LS_VERSION installed but does not run" >&2; exit 1; }
  touch "$STAMP"
  echo "label-studio $LS_VERSION installed in $VENV" >&2
}

start() {
  local root="${1:?usage: $0 start DIR [PORT]}" port="${2:-8080}"
  install
  root="$(cd "$root" && pwd)"
  # The server's database stays outside the served folder, and across starts.
  local data="${VPBENCH_LABELSTUDIO_DATA:-$CACHE/labelstudio-server-data}"
  mkdir -p "$data/home"
  local token_file="$data/vpbench-admin-token" password_file="$data/vpbench-admin-password"
  (
    umask 077
    [ -s "$token_file" ] || "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(20))' > "$token_file"
    [ -s "$password_file" ] || "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$password_file"
  )
  # Label Studio also reads the bare names HOST, PORT, USERNAME, PASSWORD, DEBUG.
  unset HOST PORT USERNAME PASSWORD DEBUG
  export HOME="$data/home" LABEL_STUDIO_BASE_DATA_DIR="$data"
  export LABEL_STUDIO_USERNAME="admin@localhost" LABEL_STUDIO_PASSWORD="$(cat "$password_file")"
  export LABEL_STUDIO_USER_TOKEN="$(cat "$token_file")"
  export LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$root"
  export LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true
  # No calls home: no PyPI version check at start, no usage analytics.
  export LABEL_STUDIO_LATEST_VERSION_CHECK=false LABEL_STUDIO_COLLECT_ANALYTICS=false
  echo "Label Studio on http://127.0.0.1:$port (data in $data), serving local files under $root" >&2
  echo "  log in as admin@localhost, password in $password_file (first start only; later starts keep the first one)" >&2
  echo "  API token: export LABEL_STUDIO_API_KEY=\$(cat $token_file)" >&2
  exec "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$port" \
    --data-dir "$data" --enable-legacy-api-token
}

case "${1:-install}" in
  install) install ;;
  path) install; echo "$VENV/bin/label-studio" ;;
  start) shift; start "$@" ;;
  *) echo "usage: $0 [install|path|start DIR [PORT]]" >&2; exit 2 ;;
esac
