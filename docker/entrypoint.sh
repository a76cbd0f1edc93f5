#!/bin/sh
# `docker run IMAGE comment create report.md` runs cml; any other command (a shell, as GitLab CI
# starts one with the job's script) runs as it is, so the image also serves as a CI job image.
set -e
case "${1:-}" in
  "" | -* | metrics | params | table | plot | report | mlflow | comment | check | asset | pr | repo | ci | runner | workflow | demo)
    exec cml "$@" ;;
  *)
    exec "$@" ;;
esac
