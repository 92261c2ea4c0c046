#!/usr/bin/env bash
# Tests packaging/deb/version.sh on a scratch Git repository: the versions
# it derives from `git describe` are valid Debian versions and grow with
# every commit, tag and release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
mkdir -p "$repo/packaging/deb"
cp "$here/version.sh" "$repo/packaging/deb/"
g() { git -C "$repo" -c user.name=ci -c user.email=ci@localhost -c tag.gpgSign=false -c commit.gpgSign=false "$@"; }
g init -q
t=1795000000
commit() { # commit MESSAGE: one more commit, a minute after the last
  t=$((t + 60)); echo "$1" >"$repo/file"; g add file
  GIT_COMMITTER_DATE="@$t +0000" GIT_AUTHOR_DATE="@$t +0000" g commit -q -m "$1"
}
version() { (unset PKG_VERSION; bash "$repo/packaging/deb/version.sh"); }
prev=""
check() { # check WANT_REGEX: the version matches and is higher than the one before
  local v; v=$(version)
  [[ $v =~ ^$1$ ]] || { echo "version-test: got $v, want $1"; exit 1; }
  if [ -n "$prev" ] && ! dpkg --compare-versions "$v" gt "$prev"; then
    echo "version-test: $v is not higher than $prev"; exit 1
  fi
  echo "  $v"
  prev=$v
}
commit one;   check '0\.0\.0\+git20261118\.[0-9]{6}\.[0-9a-f]{12}'
commit two;   check '0\.0\.0\+git20261118\.[0-9]{6}\.[0-9a-f]{12}'
g tag -a v0.1.0 -m v0.1.0
check '0\.1\.0'
commit three; check '0\.1\.0\+1\.g[0-9a-f]{12}'
echo dirty >"$repo/file"
check '0\.1\.0\+1\.g[0-9a-f]{12}\.dirty'
g checkout -q -- file
commit four;  check '0\.1\.0\+2\.g[0-9a-f]{12}'
g tag -a v0.2.0-rc1 -m v0.2.0-rc1
check '0\.2\.0~rc1'
commit five;  check '0\.2\.0~rc1\+1\.g[0-9a-f]{12}'
g tag -a v0.2.0 -m v0.2.0
check '0\.2\.0'
# A tag that is not a release (no leading v and digit) is ignored.
commit six; g tag -a latest -m latest
check '0\.2\.0\+1\.g[0-9a-f]{12}'
# PKG_VERSION wins, and must be a valid version.
[ "$(PKG_VERSION=1.2.3+x bash "$repo/packaging/deb/version.sh")" = 1.2.3+x ]
if PKG_VERSION='1.0-1' bash "$repo/packaging/deb/version.sh" 2>/dev/null; then
  echo "version-test: PKG_VERSION with a Debian revision was accepted"; exit 1
fi
echo "version-test: ok"
