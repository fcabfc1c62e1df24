#!/bin/sh
# Starts one node of the BEAM stand-in in a container (see Dockerfile for the environment).
set -eu
PA=""
for e in /opt/system/lib/*/ebin; do PA="$PA -pa $e"; done
rm -f /opt/system/agent.port
# shellcheck disable=SC2086 # word splitting of PA, APPS and DOMAIN is intended
erl -sname "$NODE_NAME" -setcookie "$COOKIE" -noinput $PA -eval 'sys_boot:start()' \
    -system_root /opt/system -system_role "$ROLE" -system_apps $APPS patch_agent \
    ${DOMAIN:+-system_domain $DOMAIN} -agent_portfile /opt/system/agent.port \
    -agent_ip 0.0.0.0 -agent_port 4370 &
NODE=$!
if [ "$ROLE" = master ]; then
    i=0
    while [ ! -f /opt/system/agent.port ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    python3 -m harness.products.beam.service --agent-file /opt/system/agent.port \
        --store /opt/system/service/store --users "$USERS_FILE" --bind 0.0.0.0 --port 8080 &
fi
wait "$NODE"
