# `scripts/services status`: says what runs, with pids and ports, and what holds the ports of a
# service that does not; its exit code is 1 unless the single node and PostgreSQL are ready.
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

status() {
    local pid rc=0
    pid=$(rabbit_pid)
    if rabbit_ready; then echo "rabbitmq:   running (pid $pid, amqp 127.0.0.1:$amqp_port, management :$mgmt_port)"
    elif [ -n "$pid" ] && [ "$(rabbit_ports_of "$pid")" != "$(rabbit_ports_asked)" ]; then
        echo "rabbitmq:   running with other ports than asked (pid $pid; $(rabbit_ports_of "$pid"))"; rc=1
    elif [ -n "$pid" ]; then echo "rabbitmq:   starting or unhealthy (pid $pid; logs in $rmq/log)"; rc=1
    else
        echo "rabbitmq:   stopped"; rc=1
        rabbit_check || true # names what holds its ports, if anything
    fi
    pid=$(epmd_pid)
    if [ -n "$pid" ]; then echo "epmd:       running (pid $pid, port $epmd_port)"; fi
    pid=$(pg_pid)
    if pg_ready; then echo "postgresql: running (pid $pid, 127.0.0.1:$pg_port, database $database)"
    elif [ -n "$pid" ] && [ "$(pg_port_of)" != "$pg_port" ]; then
        echo "postgresql: running on another port than asked (pid $pid, port $(pg_port_of))"; rc=1
    elif [ -n "$pid" ]; then echo "postgresql: running but not answering (pid $pid; log $pg/log/postgres.log)"; rc=1
    else
        echo "postgresql: stopped"; rc=1
        pg_check || true
    fi
    cluster_status
    pg_ha_status
    return $rc
}
