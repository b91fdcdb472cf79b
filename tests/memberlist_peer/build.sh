#!/usr/bin/env bash
# Build the memberlist test peer against Debian's memberlist package (GOPATH mode).
#
# Installs golang-go and golang-github-hashicorp-memberlist-dev with apt-get when they are
# missing, then builds tests/memberlist_peer/main.go and kv.go into
# build/memberlist-peer/memberlist-peer (gitignored), or into $SWIMCORE_MEMBERLIST_PEER when that
# is set.  The tests look there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${SWIMCORE_MEMBERLIST_PEER:-$root/build/memberlist-peer/memberlist-peer}"

if ! command -v go >/dev/null 2>&1 || ! dpkg -s golang-github-hashicorp-memberlist-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq golang-go golang-github-hashicorp-memberlist-dev >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq golang-go golang-github-hashicorp-memberlist-dev >/dev/null; }
  else
    echo "build.sh: need golang-go and golang-github-hashicorp-memberlist-dev (apt-get, as root)" >&2
    exit 1
  fi
fi

# The Go source tree Debian installs memberlist into (…/gocode/src/github.com/hashicorp/memberlist).
pkgdir="$(dpkg -L golang-github-hashicorp-memberlist-dev | grep -m1 '/src/github.com/hashicorp/memberlist$')"
gopath="${pkgdir%/src/github.com/hashicorp/memberlist}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Add a small file of ours to the memberlist package (member states, see overlay/) without
# touching the installed tree.
cat >"$work/overlay.json" <<JSON
{"Replace": {"$pkgdir/swimcore_peek.go": "$here/overlay/swimcore_peek.go"}}
JSON

mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH="$gopath:$work/gopath" GOCACHE="${GOCACHE:-$work/cache}" GOFLAGS=
go build -overlay "$work/overlay.json" -o "$out.tmp.$$" "$here/main.go" "$here/kv.go"
mv -f "$out.tmp.$$" "$out"  # a peer running from "$out" keeps its old file
echo "$out"
