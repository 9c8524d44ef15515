# PostgreSQL (one cluster, data under .run/postgres): its binaries, owner, pid and port checks,
# start (`up`, `start-postgres`) and stop (`down`).
# shellcheck shell=bash disable=SC2154 # its variables are set in common.sh and by the entry point

pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && echo "$dir"
}

# Runs a PostgreSQL server binary as the cluster's owner (it refuses root).
as_pg_owner() {
    # From `/`: the postgres user may not be allowed into the current folder.
    if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Our postmaster: the pid of postmaster.pid, alive, and running our data folder (a stale file's pid
# may belong to anything by now).
pg_pid() {
    local pid=""
    if [ -s "$pg/data/postmaster.pid" ]; then pid=$(head -n 1 "$pg/data/postmaster.pid" | tr -dc '0-9'); fi
    alive "$pid" || return 0
    if tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -xF -- "$pg/data" >/dev/null; then echo "$pid"; fi
}

# The port our running postmaster listens on (postmaster.pid, line 4).
pg_port_of() { sed -n 4p "$pg/data/postmaster.pid" 2>/dev/null || true; }

# Whether PostgreSQL may be started or kept: ours runs on the asked port, or none of ours runs and
# the port is free. Logs the problem.
pg_check() {
    local pid
    pid=$(pg_pid)
    if [ -n "$pid" ]; then
        [ "$(pg_port_of)" != "$pg_port" ] || return 0
        log "this checkout's PostgreSQL already runs (pid $pid) on port $(pg_port_of), not $pg_port; set CONCERT_PG_PORT=$(pg_port_of), or stop it first with scripts/services stop-postgres"
        return 1
    fi
    port_free "$pg_port" PostgreSQL CONCERT_PG_PORT
}

pg_ready() {
    local bin
    bin=$(pg_bindir) || return 1
    [ -n "$(pg_pid)" ] && [ "$(pg_port_of)" = "$pg_port" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" \
        && PGPASSWORD=$password psql -qAtX -h 127.0.0.1 -p "$pg_port" -U "$user" -d "$database" -c 'select 1' >/dev/null 2>&1
}

pg_up() {
    local bin pid
    bin=$(pg_bindir) || die "PostgreSQL binaries not found under /usr/lib/postgresql"
    pg_check || die_ports "not starting PostgreSQL"
    pid=$(pg_pid)
    if [ -n "$pid" ] && pg_ready; then
        log "PostgreSQL already runs (pid $pid, 127.0.0.1:$pg_port)"
        return 0
    fi
    if [ -z "$pid" ]; then
        mkdir -p "$pg/socket" "$pg/log"
        if is_root; then chown -R postgres:postgres "$pg"; fi
        if [ ! -s "$pg/data/PG_VERSION" ]; then
            log "creating a PostgreSQL cluster in $pg/data"
            as_pg_owner "$bin/initdb" -D "$pg/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
                -E UTF8 --locale=C.UTF-8 >"$pg/log/initdb.log" 2>&1 || die "initdb failed; see $pg/log/initdb.log"
        fi
        log "starting PostgreSQL on 127.0.0.1:$pg_port (log in $pg/log/postgres.log)"
        # The log grows over runs: only what this start writes can say why it failed.
        local log_size fatal
        log_size=$(stat -c %s "$pg/log/postgres.log" 2>/dev/null || echo 0)
        if ! as_pg_owner "$bin/pg_ctl" -D "$pg/data" -l "$pg/log/postgres.log" -w -t 60 start \
            -o "-p $pg_port -k $pg/socket -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=$pg_fsync -c shared_buffers=256MB" \
            >"$pg/log/pg_ctl.log" 2>&1; then
            pg_check || true # a port taken meanwhile: name its holder
            fatal=$(tail -c +$((log_size + 1)) "$pg/log/postgres.log" 2>/dev/null | grep -m 1 -E 'FATAL|PANIC' || true)
            die "PostgreSQL did not start${fatal:+ ($fatal)}; see $pg/log/postgres.log"
        fi
    else
        # Ours on our port but not answering yet (starting, recovering): wait for it, do not start another.
        log "PostgreSQL (pid $pid) runs but is not ready; waiting for it"
    fi

    local deadline=$((SECONDS + 60))
    until "$bin/pg_isready" -q -h "$pg/socket" -p "$pg_port"; do
        [ $SECONDS -lt $deadline ] || die "PostgreSQL is not accepting connections; see $pg/log/postgres.log"
        sleep 0.2
    done
    local psql_admin=(psql -qAtX -h "$pg/socket" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1)
    if [ "$(as_pg_owner "${psql_admin[@]}" -c "select 1 from pg_roles where rolname = '$user'")" != 1 ]; then
        as_pg_owner "${psql_admin[@]}" -c "create role $user login createdb password '$password'" >/dev/null
    fi
    if [ "$(as_pg_owner "${psql_admin[@]}" -c "select 1 from pg_database where datname = '$database'")" != 1 ]; then
        as_pg_owner "${psql_admin[@]}" -c "create database $database owner $user" >/dev/null
    fi
    deadline=$((SECONDS + 30))
    until pg_ready; do
        [ $SECONDS -lt $deadline ] || die "PostgreSQL is not answering queries; see $pg/log/postgres.log"
        sleep 0.2
    done
    log "PostgreSQL ready (pid $(pg_pid))"
}

# Stops our cluster, and only if its postmaster still is ours.
pg_down() {
    local bin pid
    bin=$(pg_bindir) || return 0
    pid=$(pg_pid)
    if [ -n "$pid" ]; then
        log "stopping PostgreSQL (pid $pid)"
        as_pg_owner "$bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
}
