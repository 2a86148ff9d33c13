#!/usr/bin/env bash
# A one-node Slurm on this machine, for trying slurm/*.sbatch and for the Slurm tests.
#
#   scripts/local_slurm.sh start  [STATE_DIR]   # prints the `export SLURM_CONF=...` line to use
#   scripts/local_slurm.sh status [STATE_DIR]   # exit 0 when munged, slurmctld and slurmd all run
#   scripts/local_slurm.sh stop   [STATE_DIR]
#
# STATE_DIR (default $LOCAL_SLURM_DIR, else ${TMPDIR:-/tmp}/compsep-local-slurm) holds everything:
# slurm.conf, its own munge key and socket (AuthInfo=socket=...: /etc/munge and a system munged
# are left alone), state, spool, logs and pid files. Run it as root on Debian/Ubuntu: the daemons
# run as root, and `start` installs slurm-wlm and munge with apt-get when they are missing. The node
# is this machine (CPUs from nproc, RealMemory from /proc/meminfo, its short hostname), MpiDefault=none
# like the real site (so srun needs --mpi=pmi2 for the pip mpich), proctrack/linuxproc and
# task/none (no cgroups), JobRequeue=1, finished jobs kept 1 h for `scontrol show job` (there is
# no slurmdbd: sacct does not work), a fast scheduler (1 s), KillWait 2 s and a requeued job
# restarted after 10 s. Ports: $LOCAL_SLURM_PORT (default 16817) and the next one, or the
# first free pair above; a system Slurm keeps 6817/6818.
#
# LOCAL_SLURM_INSTALL=0: never install packages (report them missing instead).
#
# `start` is idempotent (a running instance is left as it is) and `stop` stops only the daemons
# whose pid files are in STATE_DIR (after cancelling the jobs of this instance); the folder is
# kept (logs) and reused by the next `start`. Exit status: 0 done, 1 failed, 2 usage,
# 3 cannot run here (not root, not installed and not installable).
set -uo pipefail

PROG=${0##*/}
DAEMONS=(slurmd slurmctld munged) # stop order; started in reverse
CLUSTER=compsep-local
PARTITION=local
START_TIMEOUT=${LOCAL_SLURM_START_TIMEOUT:-60} # s, until the node is idle
CRED_EXPIRE=10                                 # s; also how long a requeued job waits (min 5)

usage() {
    echo "usage: $PROG start|stop|status [STATE_DIR]" >&2
    exit 2
}
die() { # die STATUS MESSAGE...
    local status=$1
    shift
    echo "$PROG: error: $*" >&2
    exit "$status"
}
note() { echo "$PROG: $*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || usage
action=$1
case $action in start | stop | status) ;; -h | --help) usage ;; *) usage ;; esac
STATE=${2:-${LOCAL_SLURM_DIR:-${TMPDIR:-/tmp}/compsep-local-slurm}}
[[ -n $STATE ]] || usage
case $STATE in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac
STATE=${STATE%/}
CONF=$STATE/slurm.conf
MUNGE_SOCKET=$STATE/munge/munged.sock

pidfile() {
    case $1 in
    munged) echo "$STATE/run/munged.pid" ;;
    slurmctld) echo "$STATE/run/slurmctld.pid" ;;
    slurmd) echo "$STATE/run/slurmd.pid" ;;
    esac
}

# The pid of daemon $1 when its pid file names a live process of that name, else nothing.
daemon_pid() {
    local file pid comm
    file=$(pidfile "$1")
    [[ -r $file ]] || return 1
    read -r pid <"$file" 2>/dev/null || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$1" ]] || return 1 # a recycled pid of another program
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [[ $state != Z ]] || return 1
    echo "$pid"
}

# Executable $1 on PATH or in the sbin folders (not on a non-root PATH).
find_exe() {
    local dir
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return 0
    fi
    for dir in /usr/sbin /sbin /usr/local/sbin /usr/bin /usr/local/bin; do
        if [[ -x $dir/$1 ]]; then
            echo "$dir/$1"
            return 0
        fi
    done
    return 1
}

REQUIRED=(slurmctld slurmd munged munge sbatch srun scontrol squeue scancel sinfo)
missing_programs() {
    local exe out=()
    for exe in "${REQUIRED[@]}"; do
        find_exe "$exe" >/dev/null || out+=("$exe")
    done
    echo "${out[*]}"
}

install_packages() {
    local missing
    missing=$(missing_programs)
    [[ -z $missing ]] && return 0
    if [[ ${LOCAL_SLURM_INSTALL:-1} == 0 || $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die 3 "missing $missing: install the packages slurm-wlm and munge (as root: apt-get install slurm-wlm munge)"
    fi
    note "installing slurm-wlm and munge with apt-get (missing: $missing)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q slurm-wlm munge >"$STATE/log/apt.log" 2>&1; then
        apt-get update -q >>"$STATE/log/apt.log" 2>&1
        apt-get install -y -q slurm-wlm munge >>"$STATE/log/apt.log" 2>&1 ||
            die 3 "apt-get install slurm-wlm munge failed (see $STATE/log/apt.log)"
    fi
    missing=$(missing_programs)
    [[ -z $missing ]] || die 3 "still missing after apt-get install: $missing"
}

port_in_use() { # something listens on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_ports() {
    local base=${LOCAL_SLURM_PORT:-16817} p tries=0
    if ! [[ $base =~ ^[0-9]+$ ]] || ((base <= 1024 || base >= 65000)); then
        die 2 "LOCAL_SLURM_PORT=$base: not a port number in 1025..64999"
    fi
    p=$base
    while port_in_use "$p" || port_in_use "$((p + 1))"; do
        ((tries++ < 50)) || die 1 "no two free ports in $base..$p"
        p=$((p + 2))
    done
    CTLD_PORT=$p
    SLURMD_PORT=$((p + 1))
}

write_conf() {
    local node cpus mem_kb mem_mb
    node=$(hostname -s 2>/dev/null || hostname)
    [[ -n $node ]] || die 1 "cannot read this machine's hostname"
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    [[ $cpus =~ ^[0-9]+$ && $mem_kb =~ ^[0-9]+$ ]] || die 1 "cannot read nproc or MemTotal from /proc/meminfo"
    mem_mb=$((mem_kb / 1024))
    pick_ports
    # Job ids that do not come back in the next instance: names derived from them outlive jobs
    # killed outright (MPICH's /dev/shm/mpich_shm_* segments are named after JOBID.STEPID).
    local first_job_id=$((($(date +%s) % 16000000) * 4 + 1000))
    : >"$STATE/plugstack.conf" # no SPANK plugins (not the system's)
    cat >"$CONF" <<EOF
# Written by $PROG for a one-node Slurm in $STATE; \`$PROG stop $STATE\` stops it.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$STATE/plugstack.conf
MailProg=/bin/true
# Like the real site: no MPI plugin unless srun --mpi=... asks for one.
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
JobRequeue=1
FirstJobId=$first_job_id
# Finished jobs stay in \`scontrol show job\` for an hour (no slurmdbd, so no sacct).
MinJobAge=3600
KillWait=2
InactiveLimit=0
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    echo "$node" >"$STATE/node"
}

setup_munge() {
    local key=$STATE/munge/munge.key
    if [[ ! -s $key ]]; then
        local mungekey
        if mungekey=$(find_exe mungekey); then
            "$mungekey" --create --keyfile="$key" --force >/dev/null 2>&1 || rm -f "$key"
        fi
        if [[ ! -s $key ]]; then
            (umask 077 && dd if=/dev/urandom of="$key" bs=1024 count=1 status=none) ||
                die 1 "cannot write the munge key $key"
        fi
    fi
    chmod 0600 "$key"
}

start_munged() {
    daemon_pid munged >/dev/null && return 0
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    "$(find_exe munged)" --force --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
        --pid-file="$(pidfile munged)" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed" </dev/null >>"$STATE/log/munged.out" 2>&1 ||
        die 1 "munged did not start: $(tail -n 3 "$STATE/log/munged.log" "$STATE/log/munged.out" 2>/dev/null)"
    wait_for 10 munge_works || die 1 "munged does not answer on $MUNGE_SOCKET (see $STATE/log/munged.log)"
}

munge_works() {
    "$(find_exe munge)" -n -S "$MUNGE_SOCKET" 2>/dev/null | "$(find_exe unmunge)" -S "$MUNGE_SOCKET" >/dev/null 2>&1
}

wait_for() { # wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s, fail after SECONDS
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# The daemons carry LOCAL_SLURM_STATE in their environment (and so do their slurmstepds):
# `stop` recognises leftovers of this instance by it.
start_slurm_daemon() { # start_slurm_daemon slurmctld|slurmd
    local name=$1 exe
    daemon_pid "$name" >/dev/null && return 0
    exe=$(find_exe "$name") || die 3 "$name not found"
    local args=(-f "$CONF")
    [[ $name == slurmd ]] && args+=(-N "$(cat "$STATE/node")")
    env -u SLURM_CONF LOCAL_SLURM_STATE="$STATE" "$exe" "${args[@]}" </dev/null >>"$STATE/log/$name.out" 2>&1 ||
        die 1 "$name did not start: $(tail -n 5 "$STATE/log/$name.log" "$STATE/log/$name.out" 2>/dev/null)"
    wait_for 15 daemon_pid "$name" >/dev/null ||
        die 1 "$name exited at start: $(tail -n 5 "$STATE/log/$name.log" 2>/dev/null)"
}

node_state() {
    SLURM_CONF=$CONF "$(find_exe sinfo)" -h -N -o '%T' 2>/dev/null | head -n 1
}

node_idle() {
    local s
    s=$(node_state)
    [[ $s == idle* || $s == mixed* || $s == allocated* ]]
}

print_env() {
    echo "export SLURM_CONF=$CONF"
}

do_status() {
    local name pid all=0
    for name in munged slurmctld slurmd; do
        if pid=$(daemon_pid "$name"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            all=1
        fi
    done
    if ((all == 0)); then
        echo "node: $(node_state || echo '?')"
        print_env
    fi
    return "$all"
}

all_running() {
    local name
    for name in munged slurmctld slurmd; do
        daemon_pid "$name" >/dev/null || return 1
    done
}

do_start() {
    [[ $EUID -eq 0 ]] || die 3 "run as root: the daemons run as root (SlurmUser=root)"
    if all_running; then
        if node_idle; then
            note "already running in $STATE"
            print_env
            return 0
        fi
    fi
    local name
    for name in "${DAEMONS[@]}"; do
        if daemon_pid "$name" >/dev/null; then
            note "restarting: $name runs but the instance is incomplete or not ready"
            do_stop quiet
            break
        fi
    done
    # Unix sockets (munge, slurmstepd's in the spool folder) are limited to 107 bytes.
    ((${#STATE} <= 70)) || die 1 "state folder path too long for Unix sockets (${#STATE} > 70 characters): $STATE"
    mkdir -p "$STATE"/{ctld,slurmd,log,run,munge} || die 1 "cannot create $STATE"
    chmod 0755 "$STATE/munge" || die 1 "cannot chmod $STATE/munge" # the key inside is 0600
    install_packages
    write_conf
    setup_munge
    start_munged
    start_slurm_daemon slurmctld
    start_slurm_daemon slurmd
    if ! wait_for "$START_TIMEOUT" node_idle; then
        local state reason
        state=$(node_state)
        reason=$(SLURM_CONF=$CONF "$(find_exe scontrol)" show node -o 2>/dev/null | grep -o 'Reason=.*' | head -n 1)
        die 1 "the node is ${state:-not answering} after ${START_TIMEOUT} s ${reason} (see $STATE/log/slurmd.log, slurmctld.log)"
    fi
    note "running in $STATE: cluster $CLUSTER, node $(cat "$STATE/node"), ports $CTLD_PORT/$SLURMD_PORT"
    print_env
}

# Pids of slurmstepd processes started by this instance's slurmd.
own_stepds() {
    local dir pid needle="LOCAL_SLURM_STATE=$STATE"
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [[ $(cat "$dir/comm" 2>/dev/null) == slurmstepd ]] || continue
        tr '\0' '\n' <"$dir/environ" 2>/dev/null | grep -qxF "$needle" && echo "$pid"
    done
}

do_stop() {
    local quiet=${1:-} name pid
    if daemon_pid slurmctld >/dev/null && [[ -r $CONF ]]; then
        # Cancel this instance's jobs so that their steps end cleanly before slurmd goes.
        local jobs
        jobs=$(SLURM_CONF=$CONF timeout 10 "$(find_exe squeue)" -h -o '%i' 2>/dev/null)
        if [[ -n $jobs ]]; then
            # shellcheck disable=SC2086
            SLURM_CONF=$CONF timeout 10 "$(find_exe scancel)" $jobs 2>/dev/null
            wait_for 20 no_jobs_left || note "jobs still ending: $(SLURM_CONF=$CONF squeue -h -o '%i %T' 2>/dev/null | tr '\n' ' ')"
        fi
    fi
    for name in "${DAEMONS[@]}"; do
        pid=$(daemon_pid "$name") || continue
        kill -TERM "$pid" 2>/dev/null
        if ! wait_for 15 gone "$pid"; then
            note "$name (pid $pid) ignored SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            wait_for 5 gone "$pid"
        fi
        [[ -n $quiet ]] || note "stopped $name (pid $pid)"
    done
    local left
    left=$(own_stepds)
    if [[ -n $left ]]; then
        note "killing leftover slurmstepd of this instance: $left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    return 0
}

no_jobs_left() {
    [[ -z $(SLURM_CONF=$CONF "$(find_exe squeue)" -h -o '%i' 2>/dev/null) ]]
}

gone() { ! kill -0 "$1" 2>/dev/null; }

case $action in
start) do_start ;;
stop)
    [[ -d $STATE ]] || {
        note "nothing to stop: no $STATE"
        exit 0
    }
    do_stop
    ;;
status)
    [[ -d $STATE ]] || {
        echo "not started: no $STATE"
        exit 1
    }
    do_status
    ;;
esac
