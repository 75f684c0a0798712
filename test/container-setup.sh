#!/usr/bin/env bash
# Installs and configures podman with runc for the container tests (Debian's
# podman 4.3 and runc). Idempotent: installs only what is missing, edits
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
#   - netavark, chosen explicitly:  [network] network_backend = "netavark".
#     Debian's podman package ships /etc/cni/net.d/87-podman-bridge.conflist;
#     on its very first run podman picks a network backend, reads that file
#     to do so and prints "Error validating CNI config file ..." on stderr
#     (the CNI plugins are not installed). It then records its choice in
#     /var/lib/containers/storage/defaultNetworkBackend, so a second run is
#     quiet. Naming the backend makes the first run the same as every other.
#
# A fresh machine meets more than a used one: the package's CNI file above,
# storage that `podman system migrate` has not settled yet, no local pause
# image for `podman kube play` (podman builds it from catatonit on the first
# pod, minutes into a test), and apt lists never updated. So: podman's
# output is read from stdout only, never from stderr (a warning there is
# not data; it is shown only when a command fails), the first run is
# settled here once, and the pause image is built here.
#
# For the tests of this script (test/unit/container-setup.test.ts with a stub
# podman, test/e2e/container-setup.test.ts with a never-used one) the paths
# it writes can be moved: CONTAINERS_CONF (podman's own variable for the
# same file) and HOOKINIT_SETUP_SKIP_PACKAGES=1 (do not call dpkg/apt).
set -euo pipefail

quiet=false
[[ "${1:-}" == "--quiet" ]] && quiet=true
say() { $quiet || echo "container-setup: $*"; }

skip_packages=${HOOKINIT_SETUP_SKIP_PACKAGES:-0}
conf=${CONTAINERS_CONF:-/etc/containers/containers.conf}

if ((EUID != 0)) && [[ "$skip_packages" != 1 || "$conf" == /etc/* ]]; then
  echo "container-setup: must run as root (apt-get, /etc/containers, rootful podman)" >&2
  exit 1
fi

# Runs podman ARGS. Its stdout is the answer; its stderr (first-run warnings,
# deprecation notices) goes to a file shown only if podman fails.
podman_err=$(mktemp)
scratch_dirs=("$podman_err")
trap 'rm -rf "${scratch_dirs[@]}"' EXIT
podman_out() {
  if ! podman "$@" 2>"$podman_err"; then
    echo "container-setup: podman $* failed: $(tr '\n' ' ' <"$podman_err")" >&2
    return 1
  fi
}

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
[[ "$skip_packages" == 1 ]] && packages=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
installed_now=false
if [[ "$skip_packages" == 1 ]]; then
  say "packages not checked (HOOKINIT_SETUP_SKIP_PACKAGES=1)"
elif ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  # A fresh machine's apt lists may be empty or stale: always update first.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  installed_now=true
else
  say "packages already installed: ${packages[*]}"
fi

# 2. /etc/containers/containers.conf ($CONTAINERS_CONF): set our keys, keep
# everything else.
mkdir -p "$(dirname "$conf")"
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
# See the top of this file: without it podman's first run reads the CNI
# file the package left and warns on stderr.
set_key network network_backend '"netavark"'

# 3. Settle podman's first-run state: right after installing podman,
# `system migrate` brings storage and lock files up to date (only then: it
# stops every running container, and the tests of other checkouts may be
# running some). Then one `podman info` whose output is discarded creates
# storage and records the network backend; its warnings are expected here.
if $installed_now; then podman system migrate >/dev/null 2>&1 || true; fi
podman info >/dev/null 2>&1 || true

# 4. Check that podman works and can run a container with runc. Only stdout
# is parsed.
info=$(podman_out info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroup{{.Host.CgroupsVersion}} {{.Store.GraphDriverName}} {{.Host.NetworkBackend}}') ||
  exit 1
version=$(podman_out version --format '{{.Client.Version}}') || exit 1
say "podman $version: runtime, cgroup manager, cgroups, storage, network = $info"
read -r runtime _ <<<"$info"
if [[ "$runtime" != runc ]]; then
  echo "container-setup: podman uses '${runtime:-nothing}' (podman info printed '$info'), expected runc" >&2
  exit 1
fi

# A one-off busybox container proves the runtime settings (rlimits, cgroups,
# storage) work; the image is imported from the host's busybox, no registry.
probe=localhost/hookinit-setup-probe:latest
if ! podman image exists "$probe" 2>/dev/null; then
  dir=$(mktemp -d)
  scratch_dirs+=("$dir")
  mkdir -p "$dir/rootfs/bin"
  cp /bin/busybox "$dir/rootfs/bin/busybox"
  ln -s busybox "$dir/rootfs/bin/sh"
  tar -C "$dir/rootfs" -cf "$dir/rootfs.tar" .
  podman_out import --quiet --change 'ENV PATH=/bin' "$dir/rootfs.tar" "$probe" >/dev/null || exit 1
fi
out=$(podman_out run --rm --network none "$probe" /bin/sh -c 'echo probe-ok') || exit 1
if [[ "$out" != probe-ok ]]; then
  echo "container-setup: podman run printed '$out', expected probe-ok" >&2
  exit 1
fi
say "podman run works (runc, busybox image $probe)"

# 5. The pause image `podman kube play` needs for a pod's infra container.
# podman 4.3 builds it locally from catatonit when the first pod is made;
# making one here moves that first-time build out of the tests.
pause=$(podman_out images --quiet --filter reference=localhost/podman-pause) || exit 1
if [[ -z "$pause" ]]; then
  pod=hookinit-setup-pause-$$
  podman_out pod create --name "$pod" >/dev/null || exit 1
  podman pod rm -f "$pod" >/dev/null 2>&1 || true
  say "podman pause image built (for the infra container of kube play pods)"
else
  say "podman pause image present"
fi
