#!/usr/bin/env bash
# A real one-node SLURM on loopback for the launcher tests: bash scripts/slurm_local.sh {install|start|stop|status}
# install: apt-get slurm-wlm + munge (idempotent). start: munge key, slurm.conf sized to this machine's
# real CPUs/memory, munged + slurmctld + slurmd, then wait until sinfo shows the node idle.
set -euo pipefail
CONF_DIR=/etc/slurm
STATE=/var/lib/slurm-local
NODE=$(hostname -s)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    echo "slurm-wlm and munge already installed"; return
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge
}

write_conf() {
  local cpus mem_mb
  cpus=$(nproc --all)
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
  $SUDO mkdir -p "$CONF_DIR" "$STATE"/{ctld,d} /var/log/slurm
  $SUDO tee "$CONF_DIR/slurm.conf" >/dev/null <<CONF
# written by scripts/slurm_local.sh: one node on loopback for tests
ClusterName=infir-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
JobRequeue=1
MinJobAge=600
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

start() {
  if pgrep -x slurmd >/dev/null && sinfo -h -o %T 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then echo "slurm already up"; sinfo; return; fi
  write_conf
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mkdir -p /etc/munge
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $SUDO chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  $SUDO chmod 400 /etc/munge/munge.key
  $SUDO mkdir -p /run/munge && $SUDO chown munge:munge /run/munge 2>/dev/null || true
  if ! pgrep -x munged >/dev/null; then
    if [ -z "$SUDO" ]; then runuser -u munge -- munged || munged --force; else sudo -u munge munged; fi
  fi
  pgrep -x slurmctld >/dev/null || $SUDO slurmctld
  pgrep -x slurmd >/dev/null || $SUDO slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then sinfo; return; fi
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm did not come up; see /var/log/slurm/*.log" >&2; sinfo >&2 || true; exit 1
}

stop() {
  for daemon in slurmd slurmctld; do
    pid=$(pgrep -x "$daemon" || true)
    [ -n "$pid" ] && $SUDO kill $pid
  done
  echo "stopped slurmd and slurmctld (munged left running)"
}

status() { sinfo && squeue; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
