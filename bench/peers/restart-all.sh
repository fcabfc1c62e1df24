#!/usr/bin/env bash
# The naive way: update the code on every host, then restart every component at once and wait until each
# answers. No order, no waiting between servers: what the runbook's "one by one" exists to prevent.
#
#   restart-all.sh ENVFILE [REVISION]
# ENVFILE (written by bench/peers_zato_update.py from the harness's inventory), one line each:
#   host INSTALL_DIR
#   component ROLE PATH URL ZATO_BIN
set -euo pipefail
envfile=$1 rev=${2:-}
hosts=() comps=()
while read -r kind a b c; do
    case $kind in
        host) hosts+=("$a") ;;
        component) comps+=("$a $b $c") ;;  # c: "URL ZATO_BIN"
    esac
done <"$envfile"

pids=()
for dir in "${hosts[@]}"; do
    (cd "$dir" && git pull --ff-only --no-edit --quiet ${rev:+origin "$rev"} && ./update.sh) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

pids=()
for c in "${comps[@]}"; do
    read -r role path url zato <<<"$c"
    # `zato stop` returns at once (Zato 3.2): `zato start` refuses while the old process (a load balancer's
    # HAProxy and agent) still holds its port, so even the naive way waits for it to be gone
    ( old=$(cat "$path/pidfile" "$path/zato-lb-agent.pid" 2>/dev/null || true)
      "$zato" stop "$path" || [[ $? -eq 2 ]]
      for p in $old; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
      if [[ $role == server ]]; then "$zato" start "$path" --sync-internal; else "$zato" start "$path"; fi ) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

declare -A ready_path=([server]=/zato/ping [web-admin]=/ [scheduler]=/ [load-balancer]=/zato-lb-alive)
for c in "${comps[@]}"; do
    read -r role path url _ <<<"$c"
    # curl's own retries (about 60 s at most), no loop of ours
    curl -fsS -o /dev/null --retry 120 --retry-delay 1 --retry-max-time 60 --retry-all-errors \
        "$url${ready_path[$role]}"
done
