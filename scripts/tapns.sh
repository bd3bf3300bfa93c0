#!/usr/bin/env bash
# tapns.sh: a network namespace holding the kernel side of a TAP device, for
# usertcp to serve real kernel hosts without touching the machine's own
# network.
#
#   scripts/tapns.sh up     [-n NS] [-t TAP] [-m MTU] [-u USER]
#   scripts/tapns.sh down   [-n NS] [-t TAP]
#   scripts/tapns.sh status [-n NS] [-t TAP]
#   scripts/tapns.sh leftovers [PREFIX]
#
# up creates network namespace NS (default "usertcp") and in it a persistent
# TAP device TAP (default "usertcp0") whose kernel side is the host
#
#   10.77.0.1/30     fd77:75::1/64      (MTU: -m, default 1500)
#
# leaving 10.77.0.2 and fd77:75::2 to usertcp. The namespace has nothing else
# but its loopback and no routes beyond these two subnets, so nothing in it
# can reach any other address.
#
# The design: the TAP device lives inside the namespace, and usertcp opens it
# there, either by running inside it
#
#   ip netns exec NS usertcp serve --tap TAP
#
# or from outside with --netns NS (link/tap's Options.Netns: one thread joins
# the namespace just to open the device; the process stays where it is). The
# kernel side never leaves the namespace, and a kernel client reaches usertcp
# with "ip netns exec NS curl http://10.77.0.2/".
#
# up and down are idempotent: up on an existing setup re-applies the MTU and
# addresses; down removes whatever exists of it and succeeds if nothing does.
# If up fails half-way, it removes what it created. status says whether NS
# exists and, as root, lists its devices and addresses. leftovers lists the
# namespaces whose names start with PREFIX (default "usertcp") and exits 1 if
# there are any. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2.
set -euo pipefail

prog=$(basename "$0")
ns=${TAPNS_NS:-usertcp}
tap=${TAPNS_TAP:-usertcp0}
mtu=${TAPNS_MTU:-1500}
user=""
kernel4=10.77.0.1/30
kernel6=fd77:75::1/64

die() { echo "$prog: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
  help | -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
if [ "$cmd" = leftovers ]; then
  prefix=${1:-usertcp}
  found=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix" || true)
  if [ -n "$found" ]; then
    echo "$prog: network namespaces left behind:" $found >&2
    exit 1
  fi
  exit 0
fi
while getopts "n:t:m:u:h" opt; do
  case $opt in
    n) ns=$OPTARG ;;
    t) tap=$OPTARG ;;
    m) mtu=$OPTARG ;;
    u) user=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

command -v ip >/dev/null || die "ip not found: install iproute2 (apt-get install iproute2)"
[ ${#tap} -le 15 ] || die "device name $tap is longer than 15 bytes"
case $mtu in *[!0-9]* | "") die "MTU $mtu is not a number" ;; esac
[ "$mtu" -ge 1280 ] && [ "$mtu" -le 65520 ] || die "MTU $mtu outside 1280..65520 (the namespace has IPv6)"

ns_exists() { [ -e "/run/netns/$ns" ]; }
tap_exists() { ns_exists && ip -n "$ns" link show dev "$tap" >/dev/null 2>&1; }

down() {
  if tap_exists; then
    ip -n "$ns" link del dev "$tap"
  fi
  if ns_exists; then
    ip netns del "$ns"
  fi
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to make namespaces and devices): run it with sudo"
  [ -c /dev/net/tun ] || die "/dev/net/tun is missing: load the TUN/TAP driver (modprobe tun)"
}

# What up has made so far: globals, because the EXIT trap runs after up
# has returned.
made_ns=""
made_tap=""

undo() {
  [ -n "$made_tap" ] && ip -n "$ns" link del dev "$tap" 2>/dev/null
  [ -n "$made_ns" ] && ip netns del "$ns" 2>/dev/null
  echo "$prog: up failed; removed what it had created" >&2
}

up() {
  need_root
  # On failure, remove what this run made, and only that.
  trap 'rc=$?; [ $rc -eq 0 ] || undo' EXIT
  if ! ns_exists; then
    ip netns add "$ns"
    made_ns=1
  fi
  ip -n "$ns" link set dev lo up
  if tap_exists; then
    ip -n "$ns" -d link show dev "$tap" | grep -q 'tun type tap' ||
      die "$tap exists in namespace $ns and is not a TAP device"
  else
    ip -n "$ns" tuntap add dev "$tap" mode tap ${user:+user "$user"}
    made_tap=1
  fi
  ip -n "$ns" link set dev "$tap" mtu "$mtu"
  ip -n "$ns" addr replace "$kernel4" dev "$tap"
  # nodad: the address is usable at once, not after a second of duplicate
  # address detection.
  ip -n "$ns" addr replace "$kernel6" dev "$tap" nodad
  ip -n "$ns" link set dev "$tap" up
  trap - EXIT
  echo "namespace $ns: TAP $tap (MTU $mtu), kernel side ${kernel4%/*} and ${kernel6%/*}; usertcp takes 10.77.0.2 and fd77:75::2"
}

status() {
  if ! ns_exists; then
    echo "namespace $ns: absent"
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    # ip -n joins the namespace, which takes CAP_SYS_ADMIN.
    echo "namespace $ns: present; listing its devices and addresses needs root (sudo $prog status -n $ns)"
    return 0
  fi
  echo "namespace $ns:"
  ip -n "$ns" -brief addr show
}

case $cmd in
  up) up ;;
  down) need_root; down ;;
  status) status ;;
  *) usage ;;
esac
