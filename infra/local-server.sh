# Sourced by the scripts that drive a real client against the local server
# (scim-conformance.sh, schemathesis.sh): a virtualenv of the client's own, kept apart from the
# project's so that their pins cannot clash, and the debug local server on a free port.

# client_venv VENV REQUIREMENTS: creates VENV (or refreshes it when REQUIREMENTS changed).
client_venv() {
  local venv="$1" requirements="$2"
  local stamp="$venv/.requirements.sha256" wanted
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "==> installing $requirements into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
  fi
}

# start_local_api DATA_DIR READY_PATH [local-api options...]: serves on a free port, logging to
# DATA_DIR/server.log; sets LOCAL_API_PORT and LOCAL_API_PID once READY_PATH answers.
start_local_api() {
  local data="$1" ready="$2"; shift 2
  LOCAL_API_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  ./target/debug/local-api --listen "127.0.0.1:$LOCAL_API_PORT" --data-dir "$data" "$@" \
    > "$data/server.log" 2>&1 &
  LOCAL_API_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$LOCAL_API_PORT$ready"; then
      return 0
    fi
    sleep 0.2
  done
  echo "the local server did not answer $ready; its log:" >&2
  cat "$data/server.log" >&2
  return 1
}

# stop_local_api: stops the server start_local_api started.
stop_local_api() {
  kill "$LOCAL_API_PID" 2>/dev/null || true
  wait "$LOCAL_API_PID" 2>/dev/null || true
}
