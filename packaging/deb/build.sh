#!/usr/bin/env bash
# Builds dist/felhom-converge_<version>_<arch>.deb from this checkout with
# plain dpkg-deb: a static binary (CGO_ENABLED=0) that serves Proxmox VE 8
# (Debian 12) and 9 (Debian 13) alike, the systemd units, the sudoers
# allowlist, an example config and the docs. <version> comes from
# `git describe` (packaging/deb/version.sh); the binary's
# `felhom-converge version` prints exactly it. Prints the .deb's path last.
#
# Needs git, dpkg-deb and Go: go.mod's version, or any Go >= 1.21 (which
# fetches it); on a machine without one (Debian 12 ships 1.19),
# packaging/deb/go-toolchain.sh fetches go.mod's release from the Go
# module proxy and checks it against the checksum database. Installs what
# it needs with apt when it is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

if ! command -v git >/dev/null 2>&1 && [ -z "${PKG_VERSION:-}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi
version=$(bash "$here/version.sh")
arch=$(dpkg --print-architecture)
case "$arch" in
  amd64 | arm64 | riscv64 | ppc64el | s390x) goarch=${arch/ppc64el/ppc64le} ;;
  i386) goarch=386 ;;
  *) echo "build.sh: no Go port chosen for Debian architecture $arch" >&2; exit 1 ;;
esac

go=$(bash "$here/go-toolchain.sh" "$goarch")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg="$work/pkg"
doc="$pkg/usr/share/doc/felhom-converge"
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" \
  "$pkg/etc/felhom-converge" "$pkg/etc/sudoers.d" "$doc/docs" "$doc/examples" \
  "$pkg/usr/share/lintian/overrides" "$pkg/usr/share/man/man1"

# The binary. -buildvcs=false: the version string already names the commit,
# so `felhom-converge version` prints the package version and nothing else.
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch "$go" build -trimpath -buildvcs=false \
  -ldflags "-s -w -X main.version=$version" -o "$pkg/usr/bin/felhom-converge" ./cmd/felhom-converge
chmod 0755 "$pkg/usr/bin/felhom-converge"

# Every Go module linked into the binary must have its licence in the
# copyright file.
missing=$("$go" version -m "$pkg/usr/bin/felhom-converge" | awk '$1 == "dep" {print $2}' |
  while read -r m; do grep -qxF "Files: $m/*" "$here/copyright" || echo "$m"; done)
if [ -n "$missing" ]; then
  echo "build.sh: packaging/deb/copyright has no stanza for these linked modules:" >&2
  echo "$missing" >&2
  exit 1
fi

install -m 0644 packaging/systemd/*.service packaging/systemd/*.timer "$pkg/usr/lib/systemd/system/"
install -m 0440 packaging/sudoers.d/felhom-converge "$pkg/etc/sudoers.d/felhom-converge"
install -m 0644 "$here/config.hcl" "$pkg/etc/felhom-converge/config.hcl"
install -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/felhom-converge"
gzip -9n <"$here/felhom-converge.1" >"$pkg/usr/share/man/man1/felhom-converge.1.gz"
chmod 0644 "$pkg/usr/share/man/man1/felhom-converge.1.gz"

# Docs: the README, docs/ and examples/; as Debian policy asks, files over
# 4 KiB are gzip'd (-n: no name or time, so the package is reproducible).
install -m 0644 README.md "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 examples/* "$doc/examples/"
install -m 0644 "$here/copyright" "$doc/copyright"
find "$doc" -type f ! -name copyright -size +4k -exec gzip -9n {} +
# The changelog of a package without a Debian revision (a native one):
# one entry for this build.
{
  echo "felhom-converge ($version) unstable; urgency=medium"
  echo
  echo "  * Built from commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown) of"
  echo "    https://github.com/felhom/felhom-converge."
  echo
  echo " -- felhom-converge maintainers <maintainers@felhom.org>  $(date -R -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} >"$work/changelog"
gzip -9n <"$work/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$pkg/DEBIAN/"
install -m 0644 "$here/conffiles" "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$here/control" >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

mkdir -p dist
out="dist/felhom-converge_${version}_${arch}.deb"
# Files owned by root whoever builds; dates from the commit, for a
# reproducible package.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
  dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "$out"
