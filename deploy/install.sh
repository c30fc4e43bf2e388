#!/bin/sh
# Install deidnode as a systemd service in the documented layout (docs/operations.md#install):
#   /opt/deidnode/venv                  the program (a virtualenv)
#   /etc/deidnode/{node,routes}.yaml    configuration; /etc/deidnode/deid.key the key (made if missing)
#   /var/lib/deidnode/{spool,quarantine,audit,out}   state, owned by the "deidnode" user
#   /etc/systemd/system/deidnode.service, /usr/lib/sysusers.d/deidnode.conf, /usr/lib/tmpfiles.d/deidnode.conf
# Usage (as root, from a source checkout):  sh deploy/install.sh [--root DIR] [--no-venv]
#   --root DIR   install under DIR instead of / (packaging, tests); systemctl is not called then
#   --no-venv    do not create the virtualenv (it is already there, e.g. installed from a wheel)
# Existing files in /etc/deidnode are never overwritten.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=""
VENV=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$(cd "$2" && pwd); shift 2 ;;
    --no-venv) VENV=no; shift ;;
    *) echo "usage: $0 [--root DIR] [--no-venv]" >&2; exit 2 ;;
  esac
done

if [ "$VENV" = yes ]; then
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "install.sh: python3 cannot make a virtualenv: apt-get install python3-venv" >&2
    exit 1
  fi
  python3 -m venv "$ROOT/opt/deidnode/venv"
  "$ROOT/opt/deidnode/venv/bin/pip" install -q --upgrade pip
  "$ROOT/opt/deidnode/venv/bin/pip" install -q "$SRC"
  # OpenCV (loaded by the OCR engine) needs two system libraries; without them every image is quarantined.
  if ! "$ROOT/opt/deidnode/venv/bin/python" -c 'import cv2' 2>/dev/null; then
    echo "install.sh: OpenCV cannot load: apt-get install libgl1 libglib2.0-0" >&2
    exit 1
  fi
fi

install -d -m 0755 "$ROOT/etc" "$ROOT/etc/systemd/system" "$ROOT/usr/lib/sysusers.d" "$ROOT/usr/lib/tmpfiles.d"
install -m 0644 "$SRC/systemd/deidnode.service" "$ROOT/etc/systemd/system/deidnode.service"
install -m 0644 "$SRC/systemd/sysusers.d/deidnode.conf" "$ROOT/usr/lib/sysusers.d/deidnode.conf"
install -m 0644 "$SRC/systemd/tmpfiles.d/deidnode.conf" "$ROOT/usr/lib/tmpfiles.d/deidnode.conf"

if [ -n "$ROOT" ]; then
  systemd-sysusers --root="$ROOT" "$ROOT/usr/lib/sysusers.d/deidnode.conf"
else
  systemd-sysusers /usr/lib/sysusers.d/deidnode.conf
fi
install -d -m 0750 "$ROOT/etc/deidnode"
for f in node.yaml routes.yaml; do
  [ -e "$ROOT/etc/deidnode/$f" ] || install -m 0640 "$SRC/deploy/etc/deidnode/$f" "$ROOT/etc/deidnode/$f"
done
if [ ! -e "$ROOT/etc/deidnode/deid.key" ]; then
  (umask 0277 && head -c 32 /dev/urandom > "$ROOT/etc/deidnode/deid.key")
  echo "install.sh: made a new key in /etc/deidnode/deid.key: back it up, keep it secret" >&2
fi
if [ -n "$ROOT" ]; then
  systemd-tmpfiles --root="$ROOT" --create "$ROOT/usr/lib/tmpfiles.d/deidnode.conf"
else
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/deidnode.conf
fi
# The service reads its configuration as group deidnode; only root writes it.
chgrp deidnode "$ROOT/etc/deidnode/node.yaml" "$ROOT/etc/deidnode/routes.yaml" 2>/dev/null ||
  chgrp "$(awk -F: '$1 == "deidnode" {print $3}' "$ROOT/etc/group")" \
    "$ROOT/etc/deidnode/node.yaml" "$ROOT/etc/deidnode/routes.yaml"

if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  echo "installed: edit /etc/deidnode/node.yaml (destination, allowed senders), then: systemctl enable --now deidnode"
fi
