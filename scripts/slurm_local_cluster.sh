#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, so that profiles/slurm is tested against the actual
# sbatch/squeue/srun of Debian's slurm-wlm rather than against mocks (docs/slurm.md "Tests").
#
#   scripts/slurm_local_cluster.sh up       install if needed, configure, start, wait for an idle node
#   scripts/slurm_local_cluster.sh down     stop slurmd, slurmctld and munged (only the ones started here)
#   scripts/slurm_local_cluster.sh status   daemons, sinfo and squeue
#
# Exit codes: 0 ok, 1 a daemon failed / the node never became idle, 2 usage, 3 slurm-wlm or munge
# cannot be installed (no root, no apt-get, no network): callers such as the pytest fixture skip on 3.
#
# Needs root (it writes /etc/slurm/slurm.conf and runs the daemons as root, which is fine on a
# throw-away test machine and keeps the setup independent of the "slurm" system user).
# Environment overrides: SLURM_LOCAL_CLUSTER (ClusterName, default "devcurriculum"),
# SLURM_LOCAL_PARTITION (default "local"), SLURM_LOCAL_TIMEOUT (seconds to wait for idle, default 60).
set -euo pipefail

CLUSTER_NAME="${SLURM_LOCAL_CLUSTER:-devcurriculum}"
PARTITION="${SLURM_LOCAL_PARTITION:-local}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
CTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge
MUNGE_PID="$MUNGE_RUN/munged.pid"
MUNGE_LOG=/var/log/munge/munged.log

log() { printf '[slurm_local_cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $1"; exit "${2:-1}"; }

# True when the pid recorded in file $1 is a running process whose command is $2.
# Checking the command (not just the pid) avoids trusting a stale pid file after a reboot.
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$name" ]]
}

ensure_installed() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "slurm-wlm/munge are not installed and installing them needs root" 3
    command -v apt-get >/dev/null || die "slurm-wlm/munge are not installed and apt-get is not available" 3
    log "installing slurm-wlm and munge with apt-get (one-off, takes a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed: cannot install slurm-wlm and munge" 3
    apt-get install -y -qq slurm-wlm munge >&2 || die "apt-get install slurm-wlm munge failed" 3
    command -v slurmctld >/dev/null || die "slurmctld still missing after installing slurm-wlm" 3
}

# The node line from `slurmd -C` carries this machine's real CPUs, sockets, cores, threads and
# RealMemory, so the node never registers as INVALID for claiming more than it has.
node_line() {
    local host=$1 line
    line=$(slurmd -C | grep -m1 '^NodeName=') || die "'slurmd -C' did not print a NodeName line"
    # Always name the node after `hostname -s` (what slurmd will register as).
    line=$(sed -E "s/^NodeName=[^ ]+/NodeName=$host/" <<<"$line")
    printf '%s State=UNKNOWN\n' "$line"
}

write_config() {
    local host=$1 tmp
    mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR" "$RUN_DIR"
    tmp=$(mktemp "$CONF_DIR/.slurm.conf.XXXXXX")
    cat >"$tmp" <<EOF
# Written by scripts/slurm_local_cluster.sh: a one-node test cluster on localhost.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
# No cgroup delegation in containers: track processes by parent pid and do no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmdSpoolDir=$SPOOL_DIR
StateSaveLocation=$STATE_DIR
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SwitchType=switch/none
# Schedule cores and memory (like a real GPU cluster) so mem_mb and cpus_per_task are enforced
# at admission time.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No accounting database: sacct cannot see jobs, so finished jobs must stay visible to squeue long
# enough for Snakemake's status checks (profiles/slurm sets slurm-status-command: squeue).
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=30
Waittime=0
$(node_line "$host")
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 0
    fi
    mv -f "$tmp" "$CONF"
    # `up` on a running cluster with a changed config: make the running daemons re-read it.
    if pid_alive "$CTLD_PID" slurmctld; then
        log "slurm.conf changed; reconfiguring the running cluster"
        scontrol reconfigure || die "scontrol reconfigure failed; run '$0 down' then '$0 up'"
    fi
}

ensure_munge_key() {
    if [[ ! -s $MUNGE_KEY ]]; then
        log "creating a munge key at $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
}

start_munge() {
    if pid_alive "$MUNGE_PID" munged; then
        return 0
    fi
    mkdir -p "$MUNGE_RUN" "$(dirname "$MUNGE_LOG")" /var/lib/munge
    chown munge:munge "$MUNGE_RUN" "$(dirname "$MUNGE_LOG")" /var/lib/munge
    chmod 0755 "$MUNGE_RUN"
    # munged refuses to run as root; run it as the munge user the package created.
    runuser -u munge -- munged --pid-file="$MUNGE_PID" --log-file="$MUNGE_LOG" \
        || die "munged failed to start; see $MUNGE_LOG"
    munge -n | unmunge >/dev/null || die "munge round trip failed; see $MUNGE_LOG"
}

start_daemons() {
    if ! pid_alive "$CTLD_PID" slurmctld; then
        # -i: ignore state from an earlier, differently configured run instead of refusing to start.
        slurmctld -i || die "slurmctld failed to start; see $LOG_DIR/slurmctld.log"
    fi
    if ! pid_alive "$SLURMD_PID" slurmd; then
        slurmd || die "slurmd failed to start; see $LOG_DIR/slurmd.log"
    fi
}

wait_idle() {
    local host=$1 deadline state
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n1 || true)
        case $state in
            idle | mixed | allocated) log "node $host is $state"; return 0 ;;
            down* | drain* | fail*)
                # A node left DOWN by an earlier stop: bring it back.
                scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 1
    done
    die "node $host did not become idle within ${TIMEOUT}s (last state: '${state:-none}'); see $LOG_DIR/"
}

stop_daemon() {
    local pidfile=$1 name=$2 pid i
    if ! pid_alive "$pidfile" "$name"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(<"$pidfile")
    kill -TERM "$pid"
    for i in $(seq 1 30); do
        [[ -d /proc/$pid ]] || { rm -f "$pidfile"; log "stopped $name ($pid)"; return 0; }
        sleep 0.5
    done
    log "$name ($pid) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

cmd_up() {
    local host
    host=$(hostname -s)
    ensure_installed
    [[ $(id -u) -eq 0 ]] || die "'up' needs root to write $CONF and start the daemons"
    write_config "$host"
    ensure_munge_key
    start_munge
    start_daemons
    wait_idle "$host"
    log "cluster '$CLUSTER_NAME' is up: partition '$PARTITION' on $host ($CONF)"
}

cmd_down() {
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    stop_daemon "$MUNGE_PID" munged
}

cmd_status() {
    local rc=0 d
    for d in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID"; do
        if pid_alive "${d#*:}" "${d%%:*}"; then
            echo "${d%%:*}: running (pid $(<"${d#*:}"))"
        else
            echo "${d%%:*}: stopped"
            rc=1
        fi
    done
    if ((rc == 0)); then
        sinfo -N -l
        squeue
    fi
    return "$rc"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
