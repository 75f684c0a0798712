#!/usr/bin/env bash
# Installs and configures podman with runc for the container tests (see
# BRIEF.md, "This machine"). Idempotent: installs only what is missing, edits
# only the keys it owns in /etc/containers/containers.conf, and says what it
# did. Runs as root. Used by .ci/run and by test/e2e/container.test.ts.
#
#   bash test/container-setup.sh [--quiet]
#
# What this machine needs, found by running a busybox image:
#   - runc, not crun (cgroups are hybrid v1 + v2):    [engine] runtime = "runc"
#   - explicit ulimits, otherwise runc fails with "error setting rlimit type 7:
#     operation not permitted":  [containers] default_ulimits = nofile, nproc
#   - no systemd as PID 1:  [engine] cgroup_manager = "cgroupfs" and
#     events_logger = "file" (podman picks these itself, we make it explicit)
set -euo pipefail

quiet=false
[[ "${1:-}" == "--quiet" ]] && quiet=true
say() { $quiet || echo "container-setup: $*"; }

if ((EUID != 0)); then
  echo "container-setup: must run as root (apt-get, /etc/containers, rootful podman)" >&2
  exit 1
fi

# 1. Debian packages, listed explicitly (installed without Recommends):
# podman with runc (podman depends on "crun | runc"; naming runc picks it),
# conmon, catatonit (podman builds its local pause image for `kube play` pods
# from it), netavark, aardvark-dns and iptables for the default bridge
# network; uidmap, slirp4netns and fuse-overlayfs for user namespaces and
# rootless use; busybox-static is the test image's userland; util-linux has
# unshare and nsenter.
packages=(podman runc conmon catatonit netavark aardvark-dns iptables uidmap slirp4netns
  fuse-overlayfs busybox-static util-linux)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "packages already installed: ${packages[*]}"
fi

# 2. /etc/containers/containers.conf: set our keys, keep everything else.
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
[[ -e "$conf" ]] || {
  say "creating $conf"
  : >"$conf"
}

# set_key TABLE KEY VALUE: replaces KEY in [TABLE] (a multi-line array value
# too), or adds it at the top of [TABLE], or appends [TABLE] with it.
set_key() {
  local table=$1 key=$2 value=$3 tmp
  local current
  current=$(awk -v table="$table" -v key="$key" '
    /^[[:space:]]*\[/ { t = $0; gsub(/^[[:space:]]*\[+[[:space:]]*|[[:space:]]*\]+.*$/, "", t); intable = (t == table); next }
    intable && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      line = $0; sub(/^[^=]*=[[:space:]]*/, "", line); value = line
      depth = gsub(/\[/, "[", line) - gsub(/\]/, "]", line)
      while (depth > 0 && (getline next_line) > 0) {
        value = value " " next_line
        depth += gsub(/\[/, "[", next_line) - gsub(/\]/, "]", next_line)
      }
      print value; exit
    }' "$conf")
  if [[ "$(tr -d ' \t' <<<"$current")" == "$(tr -d ' \t' <<<"$value")" ]]; then
    say "$conf: [$table] $key = $value (already set)"
    return
  fi
  tmp=$(mktemp "$conf.XXXXXX")
  awk -v table="$table" -v key="$key" -v value="$value" '
    function header(line,   t) { t = line; gsub(/^[[:space:]]*\[+[[:space:]]*|[[:space:]]*\]+.*$/, "", t); return t }
    /^[[:space:]]*\[/ {
      if (intable && !done) { print key " = " value; done = 1 }
      intable = (header($0) == table) && ($0 !~ /^[[:space:]]*\[\[/)
      print
      if (intable && !done) { print key " = " value; done = 1 }
      next
    }
    intable && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      line = $0; sub(/^[^=]*=/, "", line)
      depth = gsub(/\[/, "[", line) - gsub(/\]/, "]", line)
      while (depth > 0 && (getline line) > 0) depth += gsub(/\[/, "[", line) - gsub(/\]/, "]", line)
      next
    }
    { print }
    END { if (!done) { print ""; print "[" table "]"; print key " = " value } }
  ' "$conf" >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$conf"
  if [[ -n "$current" ]]; then
    say "$conf: [$table] $key = $value (was $current)"
  else
    say "$conf: [$table] $key = $value (added)"
  fi
}

set_key containers default_ulimits '["nofile=1024:1024", "nproc=1024:1024"]'
set_key engine runtime '"runc"'
if [[ ! -d /run/systemd/system ]]; then
  # No systemd: podman cannot use systemd cgroups or the journal.
  set_key engine cgroup_manager '"cgroupfs"'
  set_key engine events_logger '"file"'
fi

# 3. Check that podman works and can run a container with runc.
if ! info=$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroup{{.Host.CgroupsVersion}} {{.Store.GraphDriverName}}' 2>&1); then
  echo "container-setup: podman info failed: $info" >&2
  exit 1
fi
say "podman $(podman version --format '{{.Client.Version}}'): runtime, cgroup manager, cgroups, storage = $info"
if [[ "$info" != runc* ]]; then
  echo "container-setup: podman uses '${info%% *}', expected runc" >&2
  exit 1
fi

# A one-off busybox container proves the runtime settings (rlimits, cgroups,
# storage) work; the image is imported from the host's busybox, no registry.
probe=localhost/hookinit-setup-probe:latest
if ! podman image exists "$probe"; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/rootfs/bin"
  cp /bin/busybox "$dir/rootfs/bin/busybox"
  ln -s busybox "$dir/rootfs/bin/sh"
  tar -C "$dir/rootfs" -cf "$dir/rootfs.tar" .
  podman import --quiet --change 'ENV PATH=/bin' "$dir/rootfs.tar" "$probe" >/dev/null
fi
if ! out=$(podman run --rm --network none "$probe" /bin/sh -c 'echo probe-ok' 2>&1) || [[ "$out" != *probe-ok* ]]; then
  echo "container-setup: podman run failed: $out" >&2
  exit 1
fi
say "podman run works (runc, busybox image $probe)"
