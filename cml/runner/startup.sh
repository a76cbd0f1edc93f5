#!/bin/bash
# cml runner: the startup script of a runner machine (its EC2 user data, or a Kubernetes pod's command).
#
# It installs the forge's runner, registers it with the short-lived material below, lets it
# take jobs, and powers the machine off (which terminates it) when the runner has been idle
# for the idle timeout, after its single job, at the maximum runtime, on a spot interruption
# notice, or when anything here fails. The runner is unregistered first, every time. How it powers off
# and hears of an interruption are hooks the cloud's backend may set (CML_*_COMMAND; a pod just exits).
# An idle shutdown never cuts a job: idleness is counted only while no job runs, and GitHub
# refuses to remove a runner that has just been given one.
set -uo pipefail

# @SETTINGS@

: "${CML_RUNNER_HOME:=/opt/cml-runner}"
: "${CML_POLL_SECONDS:=5}"
: "${CML_STOP_GRACE_SECONDS:=60}"
: "${CML_METADATA_URL:=http://169.254.169.254}"

LOG="$CML_RUNNER_HOME/cml-runner.log"
RUNNER_LOG="$CML_RUNNER_HOME/runner.log"
RUNNER_DIR="$CML_RUNNER_HOME/runner"
STARTED_AT=$(date +%s)
RUNNER_PID=""
FINISHING=""
UNREGISTERED=""

if [ "$CML_FORGE" = github ]; then
  JOB_STARTED='Running job: '
  JOB_FINISHED='completed with result: '
else
  JOB_STARTED='Checking for jobs\.\.\. received'
  JOB_FINISHED='"duration_s":'
fi

log() {
  printf '%s cml-runner: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$LOG"
}

architecture() {
  case "$(uname -m)" in
    x86_64 | amd64) echo "${1:-x64}" ;;
    aarch64 | arm64) echo arm64 ;;
    *) return 1 ;;
  esac
}

schedule_safety_net() {
  # Powers the machine off even if this script dies: ten minutes after the maximum runtime.
  [ "$CML_RUNNER_MAX_RUNTIME" -gt 0 ] || return 0
  local minutes=$(((CML_RUNNER_MAX_RUNTIME + 59) / 60 + 10))
  if [ -n "${CML_SAFETY_NET_COMMAND:-}" ]; then
    (set -- "$minutes"; eval "$CML_SAFETY_NET_COMMAND") >>"$LOG" 2>&1 || log "could not schedule the safety net"
    return 0
  fi
  shutdown -P "+$minutes" "cml runner: maximum runtime" >>"$LOG" 2>&1 ||
    log "could not schedule the safety-net power-off"
}

install_ssh_key() {
  [ -n "$CML_SSH_PUBLIC_KEY" ] || return 0
  local home
  home=$(getent passwd "$CML_SSH_USER" | cut -d: -f6) || { log "no user $CML_SSH_USER for the SSH key"; return 0; }
  mkdir -p "$home/.ssh" && printf '%s\n' "$CML_SSH_PUBLIC_KEY" >>"$home/.ssh/authorized_keys"
  chown -R "$CML_SSH_USER" "$home/.ssh" 2>/dev/null
  chmod 700 "$home/.ssh" && chmod 600 "$home/.ssh/authorized_keys"
}

run_user_script() {
  [ -n "$CML_USER_SCRIPT" ] || return 0
  log "running --cloud-startup-script"
  printf '%s' "$CML_USER_SCRIPT" | base64 -d >"$CML_RUNNER_HOME/user-startup.sh" &&
    bash "$CML_RUNNER_HOME/user-startup.sh" >>"$LOG" 2>&1
}

install_runner() {
  local arch version
  mkdir -p "$RUNNER_DIR"
  if [ "$CML_FORGE" = github ]; then
    arch=$(architecture x64) || { log "unsupported architecture $(uname -m)"; return 1; }
    version=$(curl -fsSL -o /dev/null -w '%{url_effective}' "$CML_GITHUB_RUNNER_RELEASES/latest") || return 1
    version=${version##*/v}
    log "installing actions/runner $version ($arch)"
    curl -fsSL "$CML_GITHUB_RUNNER_RELEASES/download/v$version/actions-runner-linux-$arch-$version.tar.gz" |
      tar -xz -C "$RUNNER_DIR" || return 1
    if [ "$(id -u)" = 0 ] && [ -x "$RUNNER_DIR/bin/installdependencies.sh" ]; then
      "$RUNNER_DIR/bin/installdependencies.sh" >>"$LOG" 2>&1 || log "installdependencies.sh failed; trying anyway"
    fi
  else
    arch=$(architecture amd64) || { log "unsupported architecture $(uname -m)"; return 1; }
    log "installing gitlab-runner ($arch)"
    curl -fsSL -o "$RUNNER_DIR/gitlab-runner" "$CML_GITLAB_RUNNER_DOWNLOADS/gitlab-runner-linux-$arch" &&
      chmod +x "$RUNNER_DIR/gitlab-runner"
  fi
}

launch() {
  # Starts "$@" in its own session (so stop_runner can signal it as a group). A background
  # command of a script starts with SIGINT and SIGQUIT ignored, and the runners keep them
  # ignored (.NET and bash do): give them back, or the graceful stop never reaches the runner.
  (trap - INT QUIT; exec setsid "$@") >>"$RUNNER_LOG" 2>&1 &
}

start_runner() {
  mkdir -p "$CML_RUNNER_WORKDIR"
  cd "$RUNNER_DIR" || return 1
  # Secrets go to the runner through its environment, never on a command line.
  if [ "$CML_FORGE" = github ]; then
    export RUNNER_ALLOW_RUNASROOT=1
    if [ -n "$CML_GITHUB_JITCONFIG" ]; then
      ACTIONS_RUNNER_INPUT_JITCONFIG="$CML_GITHUB_JITCONFIG" launch ./run.sh
    else
      ACTIONS_RUNNER_INPUT_TOKEN="$CML_GITHUB_REGISTRATION_TOKEN" ./config.sh --unattended --replace \
        --url "$CML_RUNNER_URL" --name "$CML_RUNNER_NAME" --labels "$CML_RUNNER_LABELS" \
        --work "$CML_RUNNER_WORKDIR" >>"$LOG" 2>&1 || return 1
      launch ./run.sh
    fi
  else
    local single=()
    [ "$CML_RUNNER_SINGLE" = 1 ] && single=(--max-builds 1)
    CI_SERVER_URL="$CML_RUNNER_URL" CI_SERVER_TOKEN="$CML_GITLAB_RUNNER_TOKEN" launch ./gitlab-runner \
      --log-format json run-single --name "$CML_RUNNER_NAME" --executor shell \
      --builds-dir "$CML_RUNNER_WORKDIR/builds" --cache-dir "$CML_RUNNER_WORKDIR/cache" "${single[@]}"
  fi
  RUNNER_PID=$!
  log "runner $CML_RUNNER_NAME started (pid $RUNNER_PID)"
}

count() {
  local found
  found=$(grep -c -E "$1" "$RUNNER_LOG" 2>/dev/null) || found=0
  echo "$found"
}

busy() {
  [ "$(count "$JOB_STARTED")" -gt "$(count "$JOB_FINISHED")" ]
}

spot_interruption_notice() {
  [ "$CML_RUNNER_SPOT" = 1 ] || return 1
  if [ -n "${CML_SPOT_NOTICE_COMMAND:-}" ]; then
    (eval "$CML_SPOT_NOTICE_COMMAND") >/dev/null 2>&1
    return
  fi
  local token
  token=$(curl -fsS -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \
    "$CML_METADATA_URL/latest/api/token" 2>/dev/null) || return 1
  # 404 until AWS schedules the interruption, two minutes ahead.
  printf 'X-aws-ec2-metadata-token: %s\n' "$token" |
    curl -fs -m 2 -o /dev/null -H @- "$CML_METADATA_URL/latest/meta-data/spot/instance-action"
}

unregister() {
  [ -z "$UNREGISTERED" ] || return 0
  if [ "$CML_FORGE" = github ]; then
    [ -n "$CML_GITHUB_REMOVAL_TOKEN" ] || return 0
    (cd "$RUNNER_DIR" && ACTIONS_RUNNER_INPUT_TOKEN="$CML_GITHUB_REMOVAL_TOKEN" ./config.sh remove --unattended) 2>&1 || return 1
  else
    printf '%s' "$CML_GITLAB_RUNNER_TOKEN" |
      curl -fsS -X DELETE -F "token=<-" "$CML_RUNNER_URL/api/v4/runners" 2>&1 || return 1
  fi
  UNREGISTERED=1
}

stop_runner() {
  [ -n "$RUNNER_PID" ] && kill -0 "$RUNNER_PID" 2>/dev/null || return 0
  kill -"$1" -- "-$RUNNER_PID" 2>/dev/null || kill -"$1" "$RUNNER_PID" 2>/dev/null
  local waited=0 grace=$CML_STOP_GRACE_SECONDS
  # gitlab-runner finishes a job it took in the last moment before it quits: wait for it, up to the maximum runtime.
  if [ "$1" = QUIT ]; then
    grace=1000000000
    [ "$CML_RUNNER_MAX_RUNTIME" -gt 0 ] && grace=$((STARTED_AT + CML_RUNNER_MAX_RUNTIME - $(date +%s)))
    [ "$grace" -gt "$CML_STOP_GRACE_SECONDS" ] || grace=$CML_STOP_GRACE_SECONDS
  fi
  while kill -0 "$RUNNER_PID" 2>/dev/null && [ "$waited" -lt "$grace" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  kill -KILL -- "-$RUNNER_PID" 2>/dev/null || kill -KILL "$RUNNER_PID" 2>/dev/null
  return 0
}

finish() {
  [ -z "$FINISHING" ] || return 0
  FINISHING=1
  log "shutting down: $1"
  if [ "$CML_FORGE" = github ]; then
    unregister >>"$LOG" || log "could not unregister the runner; it stays offline until 'cml runner stop' removes it"
    stop_runner INT
  else
    stop_runner "${2:-TERM}"
    unregister >>"$LOG" || log "could not unregister the runner"
  fi
  log "powering off"
  if [ -n "${CML_POWER_OFF_COMMAND:-}" ]; then
    (set -- "cml runner: $1"; eval "$CML_POWER_OFF_COMMAND") >>"$LOG" 2>&1
    return 0
  fi
  shutdown -P now "cml runner: $1" >>"$LOG" 2>&1 || poweroff
}

idle_shutdown() {
  busy && return 1
  if [ "$CML_FORGE" = github ]; then
    local answer
    if ! answer=$(unregister); then
      if printf '%s' "$answer" | grep -qi 'running a job'; then
        log "the runner has just been given a job; staying up"
        return 1
      fi
      log "could not unregister the runner: $answer"
    fi
    printf '%s\n' "$answer" >>"$LOG"
    UNREGISTERED=1
  fi
  finish "idle for ${CML_RUNNER_IDLE_TIMEOUT}s" QUIT
}

watch_runner() {
  local now idle_since status
  # Idleness counts from now, when the runner can take jobs: not the boot or a long user script.
  idle_since=$(date +%s)
  while kill -0 "$RUNNER_PID" 2>/dev/null; do
    sleep "$CML_POLL_SECONDS"
    now=$(date +%s)
    if spot_interruption_notice; then
      finish "spot interruption notice"
      return
    fi
    if [ "$CML_RUNNER_MAX_RUNTIME" -gt 0 ] && [ $((now - STARTED_AT)) -ge "$CML_RUNNER_MAX_RUNTIME" ]; then
      finish "maximum runtime of ${CML_RUNNER_MAX_RUNTIME}s reached"
      return
    fi
    if busy; then
      idle_since=$now
    elif [ "$CML_RUNNER_IDLE_TIMEOUT" -gt 0 ] && [ $((now - idle_since)) -ge "$CML_RUNNER_IDLE_TIMEOUT" ]; then
      idle_shutdown && return
      idle_since=$now
    fi
  done
  wait "$RUNNER_PID"
  status=$?
  if [ "$CML_RUNNER_SINGLE" = 1 ] && [ "$(count "$JOB_FINISHED")" -gt 0 ]; then
    finish "single job done"
  else
    finish "runner exited with status $status"
  fi
}

main() {
  mkdir -p "$CML_RUNNER_HOME" && : >>"$RUNNER_LOG" || exit 1
  trap 'finish "startup script exited"' EXIT
  trap 'finish "stopped by a signal"; exit 0' TERM INT HUP
  log "runner $CML_RUNNER_NAME starting"
  schedule_safety_net
  install_ssh_key
  run_user_script || { finish "--cloud-startup-script failed"; exit 1; }
  install_runner || { finish "could not install the runner"; exit 1; }
  start_runner || { finish "could not register the runner"; exit 1; }
  watch_runner
}

main
