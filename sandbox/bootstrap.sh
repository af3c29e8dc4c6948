#!/usr/bin/env bash
# Client-side prerequisites on a fresh Debian machine: a Python with venv, ssh-keygen, curl, git,
# and shellcheck (make lint checks the project's bash scripts with it).
set -euo pipefail
need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv python3-pip)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v sudo >/dev/null || [ "$(id -u)" = 0 ] || { echo "bootstrap: run as root or install sudo" >&2; exit 2; }
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bootstrap: missing ${need[*]}; install them as root" >&2; exit 2; }
  echo "bootstrap: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
