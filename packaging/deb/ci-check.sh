#!/usr/bin/env bash
# CI for the Debian package, as root on a Debian machine (systemd need not
# be running): build it, lint it, install it with dpkg -i, check what the
# install made, upgrade over it with a second build of a higher version,
# remove it, purge it, and check after each step that the state directory
# (journal, nonces) and the operator's config survived as they should.
# Leaves the machine as it found it: what the check created is removed at
# the end (the state directory and the user only when they did not exist
# before).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

[ "$(id -u)" = 0 ] || { echo "ci-check.sh: needs root (dpkg -i)"; exit 1; }
if dpkg-query -W -f '${Status}' felhom-converge 2>/dev/null | grep -q 'ok installed'; then
  echo "ci-check.sh: felhom-converge is already installed here; this check installs and purges it, so run it on a CI machine"
  exit 1
fi

STATE=/var/lib/felhom-converge
had_user=$(getent passwd felhom >/dev/null && echo yes || echo no)
had_state=$([ -e "$STATE" ] && echo yes || echo no)
work=$(mktemp -d)
cleanup() {
  dpkg --purge felhom-converge >/dev/null 2>&1 || true
  [ "$had_state" = yes ] || rm -rf "$STATE"
  if [ "$had_user" = no ] && getent passwd felhom >/dev/null; then
    deluser --quiet --system felhom >/dev/null 2>&1 || userdel felhom || true
    getent group felhom >/dev/null && { delgroup --quiet --system felhom >/dev/null 2>&1 || groupdel felhom || true; }
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "ci-check.sh: FAIL: $*"; exit 1; }
mode() { stat -c '%a %U:%G' "$1"; }
expect_mode() { [ "$(mode "$1")" = "$2" ] || fail "$1 is $(mode "$1"), want $2"; }

missing=()
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v adduser >/dev/null 2>&1 || missing+=(adduser)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "-- version derivation"
bash "$here/version-test.sh"

echo "-- build"
deb1=$(bash "$here/build.sh" | tail -1)
v1=$(dpkg-deb -f "$deb1" Version)
echo "$deb1"

echo "-- lintian"
lintian --fail-on error,warning --suppress-tags spelling-error-in-binary "$deb1"

echo "-- dpkg -i"
dpkg -i "$deb1"
bin=/usr/bin/felhom-converge
[ "$("$bin" version)" = "felhom-converge $v1" ] || fail "felhom-converge version prints '$("$bin" version)', want 'felhom-converge $v1'"
linked=$(ldd "$bin" 2>&1 || true)
[[ $linked =~ "not a dynamic executable"|"statically linked" ]] || fail "$bin is not static: $linked"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd felhom) || fail "no user felhom"
[ "$uid" -lt 1000 ] || fail "felhom has uid $uid, not a system user"
[ "$shell" = /usr/sbin/nologin ] || fail "felhom has shell $shell"
[ "$home" = "$STATE" ] || fail "felhom's home is $home"
getent group felhom >/dev/null || fail "no group felhom"
expect_mode "$STATE" "700 felhom:felhom"
expect_mode "$bin" "755 root:root"
expect_mode /etc/sudoers.d/felhom-converge "440 root:root"
expect_mode /etc/felhom-converge/config.hcl "644 root:root"
for u in felhom-converge.service felhom-converge.timer felhom-converge-root.service felhom-converge-root.timer; do
  expect_mode "/usr/lib/systemd/system/$u" "644 root:root"
done
grep -q '^ExecStart=/usr/bin/felhom-converge apply ' /usr/lib/systemd/system/felhom-converge.service || fail "the unit does not run /usr/bin/felhom-converge"
[ -z "$(find /etc/systemd/system -name 'felhom-converge*' 2>/dev/null)" ] || fail "the install enabled a unit: $(find /etc/systemd/system -name 'felhom-converge*')"
grep -qxF /etc/felhom-converge/config.hcl /var/lib/dpkg/info/felhom-converge.conffiles || fail "config.hcl is not a conffile"
[ -s /usr/share/doc/felhom-converge/copyright ] || fail "no copyright file"
if command -v visudo >/dev/null 2>&1; then visudo -cf /etc/sudoers.d/felhom-converge >/dev/null; fi

echo "-- a run as the service user leaves a journal in $STATE"
sim="$work/sim"
install -d -o felhom -g felhom -m 0700 "$sim"
desired="$work/demo.hcl"
install -m 0644 examples/demo.hcl "$desired"
chmod 0755 "$work"
set +e
runuser -u felhom -- env FELHOM_CONVERGE_STATE_DIR="$STATE" "$bin" apply --sim "$sim" "$desired" >"$work/apply.out" 2>&1
code=$?
set -e
[ "$code" = 2 ] || { cat "$work/apply.out"; fail "apply as felhom exited $code, want 2 (a step waits for a signature)"; }
[ -s "$STATE/journal.log" ] || fail "no journal after the run"

echo "-- a run by hand as root leaves nothing root-owned in $STATE"
set +e
FELHOM_CONVERGE_STATE_DIR="$STATE" "$bin" apply --sim "$sim" "$desired" >"$work/apply.out" 2>&1
code=$?
set -e
[ "$code" = 2 ] || { cat "$work/apply.out"; fail "apply as root exited $code, want 2"; }
rootowned=$(find "$STATE" "$sim" ! -user felhom)
[ -z "$rootowned" ] || fail "root's run left files felhom does not own: $rootowned"

echo "# edited by the operator" >>/etc/felhom-converge/config.hcl
snapshot() { (cd "$STATE" && find . -printf '%p %m %u:%g\n' | sort && find . -type f -exec sha256sum {} + | sort); }
before=$(snapshot)
unchanged() { [ "$(snapshot)" = "$before" ] || { diff <(echo "$before") <(snapshot) || true; fail "$STATE changed $1"; }; }

echo "-- upgrade with a second build"
deb2=$(PKG_VERSION="$v1+ci.upgrade" bash "$here/build.sh" | tail -1)
v2=$(dpkg-deb -f "$deb2" Version)
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 is not higher than $v1"
dpkg -i "$deb2"
[ "$("$bin" version)" = "felhom-converge $v2" ] || fail "after the upgrade felhom-converge version prints '$("$bin" version)'"
[ "$(getent passwd felhom | cut -d: -f3)" = "$uid" ] || fail "the upgrade changed felhom's uid"
unchanged "on upgrade"
grep -qxF '# edited by the operator' /etc/felhom-converge/config.hcl || fail "the upgrade lost the operator's edit of config.hcl"

echo "-- remove"
dpkg -r felhom-converge
[ ! -e "$bin" ] || fail "$bin is still there after remove"
unchanged "on remove"
grep -qxF '# edited by the operator' /etc/felhom-converge/config.hcl || fail "remove lost config.hcl"
echo "$STATE survived remove: $(ls "$STATE" | tr '\n' ' ')"

echo "-- purge"
dpkg -P felhom-converge
[ ! -e /etc/felhom-converge/config.hcl ] || fail "purge kept the conffile config.hcl"
unchanged "on purge"
echo "$STATE survived purge: $(ls "$STATE" | tr '\n' ' ')"
echo "package check passed"
