#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (root), set up local scanners and a
# local upstream, start the proxy in front of them, show a clean, an EICAR and a GTUBE message
# going through it, then keep serving until Ctrl-C. Runs under with-services.sh, so the private
# Postfix, clamd and spamd it started are stopped again on exit.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

PORT="${SSP_PROXY_PORT:-2525}"
CONFIG="$SSP_RUN_DIR/quickstart.yaml"
[[ -f dist/src/cli.js && -z "$(find src scanners -newer dist/src/cli.js -name '*.ts' -print -quit)" ]] || npm run --silent build

cat >"$CONFIG" <<YAML
# Written by scripts/quickstart.sh: the proxy on 127.0.0.1:$PORT in front of the private
# Postfix (mail for *@example.test lands in $SSP_POSTFIX_MAILDIR/example.test/<user>/new).
listen: { host: 127.0.0.1, port: $PORT }
upstream: { host: 127.0.0.1, port: $SSP_POSTFIX_PORT, xclient: true }
limits: { greetDelay: 0 }
spool: { dir: $SSP_RUN_DIR/spool }
scanners:
  - { type: clamav, host: 127.0.0.1, port: $SSP_CLAMD_PORT, concurrency: 8, timeout: 30s, onError: tempfail }
  - { type: spamassassin, host: 127.0.0.1, port: $SSP_SPAMD_PORT, concurrency: 2, timeout: 60s, rejectScore: 10, tagScore: 5 }
  - { type: attachments }
YAML

node dist/src/cli.js --config "$CONFIG" >"$SSP_RUN_DIR/quickstart.log" 2>&1 &
proxy=$!
trap 'kill -TERM "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$proxy" 2>/dev/null || { cat "$SSP_RUN_DIR/quickstart.log" >&2; exit 1; }
  sleep 0.1
done

send() {
  local label=$1 file=$2 reply
  # swaks prints the dialogue; the last server line ("<-" or "<**") is the reply to the message.
  # It exits non-zero when the message is refused, which is the point of two of these.
  reply=$(set +o pipefail; swaks --server "127.0.0.1:$PORT" --from alice@sender.example --to alice@example.test \
    --helo client.example.net --data "$file" --timeout 90 2>&1 | grep -E '^(<-|<\*\*) ' | tail -n 2 | head -n 1)
  printf "  %-8s %-24s %s\n" "$label" "$(basename "$file")" "$(sed -E "s/^<[-*]+ +//" <<<"$reply")"
}

echo
echo "smtp-scan-proxy is listening on 127.0.0.1:$PORT (upstream: Postfix on 127.0.0.1:$SSP_POSTFIX_PORT)"
echo "scanners: clamd 127.0.0.1:$SSP_CLAMD_PORT, spamd 127.0.0.1:$SSP_SPAMD_PORT, attachments"
echo
echo "Sending three messages with swaks:"
send clean fixtures/clean.eml
send virus fixtures/eicar-attachment.eml
send spam fixtures/gtube.eml
echo
echo "The clean one is in $SSP_POSTFIX_MAILDIR/example.test/alice/new/ with its verdict headers."
echo "Try it yourself:  swaks --server 127.0.0.1:$PORT --to bob@example.test --data fixtures/gtube.eml"
echo "Logs: $SSP_RUN_DIR/quickstart.log   Config: $CONFIG   Ctrl-C stops the proxy and the services."
wait "$proxy"
