#!/usr/bin/env bash
# Prints the Debian version of the checkout this script lives in, derived
# from `git describe`:
#
#   v0.1.0                  -> 0.1.0
#   v0.1.0-12-gabc123def456 -> 0.1.0+12.gabc123def456
#   v0.2.0-rc1-3-gabc...    -> 0.2.0~rc1+3.gabc...   (~: a pre-release sorts before 0.2.0)
#   no tag at all           -> 0.0.0+git20261201.153211.abc123def456
#                              (the commit's UTC committer time, so later
#                              commits on main get higher versions)
#
# A tree with uncommitted changes to tracked files gets ".dirty" appended.
# PKG_VERSION, when set, is used as it is (it must be a valid Debian
# version; for a build outside a Git checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."

valid() { [[ $1 =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; }

if [ -n "${PKG_VERSION:-}" ]; then
  valid "$PKG_VERSION" || { echo "version.sh: PKG_VERSION=$PKG_VERSION is not a Debian version without a revision" >&2; exit 1; }
  echo "$PKG_VERSION"; exit 0
fi
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "version.sh: not a Git checkout; set PKG_VERSION" >&2; exit 1
fi

dirty=""
git update-index -q --refresh >/dev/null 2>&1 || true
git diff-index --quiet HEAD -- || dirty=".dirty"

if desc=$(git describe --tags --long --abbrev=12 --match 'v[0-9]*' 2>/dev/null); then
  # vTAG-N-gHASH; TAG itself may contain dashes (v0.2.0-rc1).
  hash=${desc##*-}; rest=${desc%-*}
  n=${rest##*-}; tag=${rest%-*}
  upstream=${tag#v}; upstream=${upstream//-/\~}
  if [ "$n" = 0 ]; then v=$upstream; else v="$upstream+$n.$hash"; fi
else
  v="0.0.0+git$(TZ=UTC0 git log -1 --date=format-local:%Y%m%d.%H%M%S --format=%cd).$(git rev-parse --short=12 HEAD)"
fi
v="$v$dirty"
valid "$v" || { echo "version.sh: $desc gives $v, not a valid Debian version" >&2; exit 1; }
echo "$v"
