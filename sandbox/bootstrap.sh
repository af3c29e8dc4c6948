#!/usr/bin/env bash
# Client-side prerequisites on a fresh Debian machine: a Python with venv, ssh-keygen, curl, git.
set -euo pipefail
need=""
python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv python3-pip"
command -v ssh-keygen >/dev/null || need="$need openssh-client"
command -v curl >/dev/null || need="$need curl"
command -v git >/dev/null || need="$need git"
command -v sudo >/dev/null || [ "$(id -u)" = 0 ] || { echo "bootstrap: run as root or install sudo" >&2; exit 2; }
if [ -n "$need" ]; then
  [ "$(id -u)" = 0 ] || { echo "bootstrap: missing$need; install them as root" >&2; exit 2; }
  echo "bootstrap: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq $need >/dev/null
fi
