#!/usr/bin/env bash
# Prints the path of a Go command that can build this checkout: `go` on
# PATH or /usr/local/go/bin/go when it is at least go.mod's version (or
# can fetch that version itself, Go >= 1.21), else go.mod's exact release
# fetched once into a cache directory.
#
# A fetch takes the release as Go's own toolchain switching does: the
# module golang.org/toolchain@v0.0.1-goVERSION.linux-ARCH from the module
# proxy ($GOPROXY's first URL, proxy.golang.org by default), checked
# against the hash the checksum database (sum.golang.org) publishes for
# it before anything in it runs (directly, or through the proxy when
# sum.golang.org cannot be reached). Debian 12 ships Go 1.19, too old for
# either, so a fresh machine needs this; curl, unzip and ca-certificates
# are installed with apt when missing.
#
#   go=$(bash packaging/deb/go-toolchain.sh GOARCH)
set -euo pipefail
goarch=${1:?usage: go-toolchain.sh GOARCH}
root=$(cd "$(dirname "$0")/../.." && pwd)
want=$(sed -n 's/^go //p' "$root/go.mod")

# usable GO: GO runs and is at least 1.21 (it switches to go.mod's
# release itself).
usable() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%[!0-9]*}
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 21 ]; }
}
for go in "$(command -v go || true)" /usr/local/go/bin/go; do
  if [ -n "$go" ] && [ -x "$go" ] && usable "$go"; then
    echo "$go"
    exit 0
  fi
done

mod=golang.org/toolchain
ver=v0.0.1-go$want.linux-$goarch
cache=${FELHOM_CONVERGE_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/felhom-converge-build}
goroot="$cache/$mod@$ver"
if [ -x "$goroot/bin/go" ]; then
  echo "$goroot/bin/go"
  exit 0
fi

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  echo "go-toolchain.sh: installing ${need[*]} to fetch Go $want" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

proxy=${GOPROXY:-https://proxy.golang.org}
proxy=${proxy%%[,|]*}
case "$proxy" in
  https://*) ;;
  *) proxy=https://proxy.golang.org ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/go-toolchain.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "go-toolchain.sh: no Go >= 1.21 here; fetching Go $want for linux/$goarch from $proxy" >&2
curl -fsSL --proto '=https' "$proxy/$mod/@v/$ver.zip" -o "$work/go.zip"
# The checksum database directly, or through the proxy as the go command
# reaches it when sum.golang.org is not reachable (TLS vouches for the
# answer; the go command would also check the database's signed tree).
lookup() { curl -fsSL --proto '=https' "$1/lookup/$mod@$ver" 2>/dev/null | awk -v m="$mod" -v v="$ver" '$1 == m && $2 == v { print $3; exit }'; }
want_hash=$(lookup https://sum.golang.org || true)
[ -n "$want_hash" ] || want_hash=$(lookup "$proxy/sumdb/sum.golang.org" || true)
[ -n "$want_hash" ] || { echo "go-toolchain.sh: the checksum database (sum.golang.org, directly or through $proxy) lists no hash for $mod@$ver" >&2; exit 1; }

# The module hash (h1, golang.org/x/mod/sumdb/dirhash): SHA-256 of the
# lines "SHA256HEX  NAME\n" of every file, sorted by name.
unzip -q "$work/go.zip" -d "$work/x"
hex=$(cd "$work/x" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
got_hash="h1:$(printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64)"
if [ "$got_hash" != "$want_hash" ]; then
  echo "go-toolchain.sh: $mod@$ver from $proxy has hash $got_hash; sum.golang.org says $want_hash: refusing it" >&2
  exit 1
fi

# Module zips keep no file modes: the commands are made executable, as
# Go's toolchain switching does.
chmod 0755 "$work/x/$mod@$ver/bin/"* "$work/x/$mod@$ver/pkg/tool/"*/*
mkdir -p "$cache/$mod"
rm -rf "$goroot"
mv "$work/x/$mod@$ver" "$goroot"
echo "$goroot/bin/go"
