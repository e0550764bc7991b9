#!/bin/sh
# Installs whatever vzkit needs and is missing, then builds it. Idempotent and quick when
# nothing changed: `npm run demo` and `npm test` call it first on every run.
#   sh scripts/setup.sh               everything (needs root for apt and /usr/local/bin)
#   sh scripts/setup.sh --build-only  only the native helper and the bundles
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf 'setup: %s\n' "$*"; }

# Debian packages: compilers for the helper and better-sqlite3's node-gyp build, busybox-static
# for the busybox template, iproute2 for networking, lxcfs for the container's own /proc figures,
# debootstrap for the Debian templates, libcrypt1 for password hashes, openssh-client for the
# SSH tests, kmod for the ifb module of --rate; rsync and openssh-server for vzmigrate and the
# second node of its tests (the package's own sshd service is not started where policy-rc.d
# forbids it; the tests run their own sshd with their own config); zstd and rsync for vzdump,
# acl and attr (setfacl, setfattr) for the backup tests; libseccomp-dev for the helper's seccomp
# deny filter (native/harden.c; it ships libseccomp.a too, for make STATIC=1).
APT_PKGS="gcc make g++ libc6-dev python3 busybox-static iproute2 procps util-linux lxcfs xfsprogs e2fsprogs debootstrap libcrypt1 openssh-client kmod rsync openssh-server zstd acl attr libseccomp-dev"
install_apt() {
  missing=""
  for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages:$missing (run as root to install them)"; exit 1
  fi
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Another apt (an unattended upgrade, a second set-up) may hold the lock: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
}

install_npm() {
  # node_modules/.package-lock.json is npm's own record of the last install.
  if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
     && [ -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
    return 0
  fi
  say "npm ci (better-sqlite3 compiles from source: a few minutes the first time)"
  npm ci --no-audit --no-fund --loglevel=error
}

build() {
  make -s -C native
  stamp=dist/.built
  if [ ! -f "$stamp" ] || [ -n "$(find src migrate scripts/build.mjs package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
    say "building dist/"
    node scripts/build.mjs >/dev/null
    touch "$stamp"
  fi
}

link_commands() {
  [ "$(id -u)" = 0 ] || return 0
  for cmd in vzctl vzlist vzmigrate vzdump vzrestore vzd; do
    [ -x "dist/$cmd" ] || continue
    target="/usr/local/bin/$cmd"
    [ "$(readlink "$target" 2>/dev/null)" = "$ROOT/dist/$cmd" ] || ln -sfn "$ROOT/dist/$cmd" "$target"
  done
}

if [ "${1:-}" = "--build-only" ]; then
  build
  exit 0
fi
install_apt
# CRIU >= 4 for suspend/resume and vzmigrate --online (scripts/criu.sh: a no-op once installed).
sh scripts/criu.sh
install_npm
build
link_commands
