#!/bin/sh
# npm run demo: container 101 from the busybox template, started, listed, and its own ps.
set -eu
PATH="$(cd "$(dirname "$0")/.." && pwd)/dist:$PATH"
if ! vzctl status 101 | grep -q ' exist '; then
  vzctl create 101 --ostemplate busybox --hostname demo101 --name demo
fi
vzctl status 101 | grep -q ' running' || vzctl start 101
vzlist -a
echo
echo '$ vzctl exec 101 ps'
vzctl exec 101 ps
