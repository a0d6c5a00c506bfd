#!/usr/bin/env bash
# Brings up what the Docker integration tests need, on a fresh Debian machine with no route
# to any public registry: a Docker engine, a local registry that demands a login, and base
# images made from files already on the machine. Idempotent: run it as often as you like.
#
#   bash tools/docker-up.sh          (as root)
#
# Leaves:
#   - dockerd answering on /var/run/docker.sock (log: $STATE_DIR/dockerd.log)
#   - a docker-registry on 127.0.0.1:$REGISTRY_PORT with htpasswd auth, user AWS;
#     its password in $STATE_DIR/password, its URL in $STATE_DIR/url
#   - images local/busybox:1 (busybox-static) and local/node:20 (this machine's node and npm)
set -euo pipefail

STATE_DIR=${NOBLEPAY_REGISTRY_DIR:-/tmp/noblepay-registry}
REGISTRY_PORT=${NOBLEPAY_REGISTRY_PORT:-5000}
REGISTRY_USER=AWS
# Debian's client builds with BuildKit without the buildx plugin; /usr/local/bin/docker cannot.
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1

log() { printf '[docker-up] %s\n' "$*"; }
die() {
  printf '[docker-up] error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"
mkdir -p "$STATE_DIR"

# --- packages -------------------------------------------------------------------------------
missing=()
packages=(docker-registry apache2-utils busybox-static curl)
# A machine with its own Docker engine and compose (GitHub's runners) keeps them; Debian's
# docker.io would conflict with them.
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  log "using the Docker engine already running"
else
  packages+=(docker.io docker-compose)
fi
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE_DIR/apt.log" 2>&1 ||
    {
      tail -20 "$STATE_DIR/apt.log" >&2
      die "apt-get install ${missing[*]} failed"
    }
fi

# --- dockerd --------------------------------------------------------------------------------
# True when the process is running (a zombie left by a killed daemon is not).
alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]
}

wait_for() { # seconds, pid, description, command...
  local seconds=$1 pid=$2 what=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    alive "$pid" || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
  log "$what is up"
}

if ! "$DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd"
  # A pid file left by a daemon that was killed stops the next one from starting.
  for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! alive "$(cat "$pidfile")"; then rm -f "$pidfile"; fi
  done
  nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
  wait_for 60 $! dockerd "$DOCKER" info || {
    tail -30 "$STATE_DIR/dockerd.log" >&2
    die "dockerd did not start or answer within 60 s (log: $STATE_DIR/dockerd.log)"
  }
fi

# --- registry with htpasswd auth --------------------------------------------------------------
REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT"
registry_accepts_login() {
  [ -s "$STATE_DIR/password" ] || return 1
  local password
  password=$(cat "$STATE_DIR/password")
  # 401 without credentials (auth is on) and 200 with ours (it is our registry).
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/")" = 401 ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -u "$REGISTRY_USER:$password" "$REGISTRY_URL/v2/")" = 200 ]
}

if ! registry_accepts_login; then
  if curl -s -o /dev/null "$REGISTRY_URL/v2/" 2>/dev/null; then
    if [ -f "$STATE_DIR/registry.pid" ] && alive "$(cat "$STATE_DIR/registry.pid")"; then
      kill "$(cat "$STATE_DIR/registry.pid")"
      sleep 1
    else
      die "something else listens on 127.0.0.1:$REGISTRY_PORT; stop it or set NOBLEPAY_REGISTRY_PORT"
    fi
  fi
  log "starting docker-registry on $REGISTRY_URL"
  if [ ! -s "$STATE_DIR/password" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$STATE_DIR/password")
  fi
  htpasswd -Bbc "$STATE_DIR/htpasswd" "$REGISTRY_USER" "$(cat "$STATE_DIR/password")" 2>/dev/null
  mkdir -p "$STATE_DIR/data"
  cat >"$STATE_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
auth:
  htpasswd:
    realm: noblepay-registry
    path: $STATE_DIR/htpasswd
EOF
  nohup docker-registry serve "$STATE_DIR/config.yml" >"$STATE_DIR/registry.log" 2>&1 &
  echo $! >"$STATE_DIR/registry.pid"
  wait_for 20 $! docker-registry registry_accepts_login || {
    tail -20 "$STATE_DIR/registry.log" >&2
    die "docker-registry did not answer within 20 s (log: $STATE_DIR/registry.log)"
  }
fi
echo "$REGISTRY_URL" >"$STATE_DIR/url"
echo "$REGISTRY_USER" >"$STATE_DIR/username"

# --- base images ----------------------------------------------------------------------------
# A root filesystem with busybox as /bin/sh and the usual tools, a root and a nobody user.
busybox_rootfs() {
  local root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/usr/bin" "$root/home"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  # Scripts start with #!/usr/bin/env.
  ln -s ../../bin/busybox "$root/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

import_image() { # reference, rootfs, docker import --change lines...
  local reference=$1 root=$2
  shift 2
  local changes=()
  for change in "$@"; do changes+=(--change "$change"); done
  tar -C "$root" -c . | "$DOCKER" import "${changes[@]}" - "$reference" >/dev/null
  log "imported $reference"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$DOCKER" image inspect local/busybox:1 >/dev/null 2>&1; then
  busybox_rootfs "$work/busybox"
  import_image local/busybox:1 "$work/busybox" 'ENV PATH=/bin:/usr/bin' 'CMD ["sh"]'
fi

if ! "$DOCKER" image inspect local/node:20 >/dev/null 2>&1; then
  root="$work/node"
  busybox_rootfs "$root"
  node_binary=$(readlink -f "$(command -v node)")
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib"
  cp "$node_binary" "$root/usr/local/bin/node"
  # The libraries the dynamic loader resolves for node, at the same paths, plus the loader.
  for library in $(ldd "$node_binary" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$library")"
    cp -L "$library" "$root$library"
  done
  npm_root=$(npm root -g)/npm
  if [ -d "$npm_root" ]; then
    cp -r "$npm_root" "$root/usr/local/lib/npm"
    ln -s ../lib/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -s ../lib/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  fi
  # No registry is reachable from a build; npm must never wait on one.
  printf 'audit=false\nfund=false\nupdate-notifier=false\n' >"$root/etc/npmrc"
  import_image local/node:20 "$root" \
    'ENV PATH=/usr/local/bin:/bin:/usr/bin' 'ENV NPM_CONFIG_GLOBALCONFIG=/etc/npmrc' 'CMD ["node"]'
fi

log "ready: docker $("$DOCKER" version --format '{{.Server.Version}}'), registry $REGISTRY_URL (user $REGISTRY_USER, password in $STATE_DIR/password), images local/busybox:1 local/node:20"
