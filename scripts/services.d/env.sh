# .run/env, which `up` writes: the services' URLs (the single node's or every cluster node's) and
# the development secrets, made once per checkout and kept in .run/secrets.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

# The AMQP and management URLs of the broker `up` started: the single node, or every cluster node.
amqp_urls() {
    local node urls=""
    if [ "$cluster_size" = 0 ]; then echo "amqp://$user:$password@127.0.0.1:$amqp_port/%2F"; return; fi
    for node in $(seq 1 "$cluster_size"); do urls+="${urls:+,}amqp://$user:$password@127.0.0.1:$(node_amqp_port "$node")/%2F"; done
    echo "$urls"
}
management_urls() {
    local node urls=""
    if [ "$cluster_size" = 0 ]; then echo "http://$user:$password@127.0.0.1:$mgmt_port"; return; fi
    for node in $(seq 1 "$cluster_size"); do urls+="${urls:+,}http://$user:$password@127.0.0.1:$(node_mgmt_port "$node")"; done
    echo "$urls"
}

# RabbitMQ's Prometheus endpoint (plugin rabbitmq_prometheus) of the single node; empty for the
# cluster, whose nodes do not enable it.
prometheus_url() {
    if [ "$cluster_size" = 0 ]; then echo "http://127.0.0.1:$prom_port"; fi
}

write_env() {
    # Secrets are made once per checkout and kept, so tokens survive a restart of the services.
    if [ ! -s "$run/secrets" ]; then
        (umask 077 && printf 'CONCERT_TOKEN_SECRET=%s\nCONCERT_ADMIN_TOKEN=%s\n' \
            "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$run/secrets")
    fi
    # The development identity provider's HS256 secret (`concert users token USER` signs with it);
    # added to the secrets of checkouts made before it existed.
    if ! grep -q '^CONCERT_USER_TOKEN_SECRET=' "$run/secrets"; then
        (umask 077 && printf 'CONCERT_USER_TOKEN_SECRET=%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$run/secrets")
    fi
    cat >"$run/env" <<EOF
# Written by scripts/services up. Source it: set -a; . .run/env; set +a
CONCERT_DATABASE_URL=postgres://$user:$password@127.0.0.1:$([ "$pg_ha" = 1 ] && echo "$ha_port" || echo "$pg_port")/$database
CONCERT_AMQP_URL=$(amqp_urls)
CONCERT_AMQP_MANAGEMENT_URL=$(management_urls)
CONCERT_RABBITMQ_PROMETHEUS_URL=$(prometheus_url)
CONCERT_CLUSTER_NODES=$cluster_size
CONCERT_PG_HA=$pg_ha
$(cat "$run/secrets")
EOF
}
