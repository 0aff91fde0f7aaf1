#!/usr/bin/env bash
# CI: build the Linux bundle and .deb, install the .deb on this machine, and try the
# INSTALLED program (/usr/bin/lifeboat) as a user would: version, a backup and restore of
# a real SQLite database, the headless scheduler, the tray on the offscreen platform.
# Then uninstall, checking that the user's data stays. Called at the end of .ci/run;
# runs alone too (as root or with sudo): bash packaging/ci_build_and_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
step_started=$SECONDS
step() { echo "smoke: [$((SECONDS - step_started)) s] $*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

# PyInstaller reads binaries with objdump (binutils); dpkg-deb builds the package.
if ! command -v objdump >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq binutils
fi

# The build tools in a venv of their own: the project's dependencies are already in this
# Python (.ci/run installed them), so the venv sees them and adds only PyInstaller.
step "installing the build extra"
python3 -m venv --system-site-packages build/venv
build/venv/bin/pip install -q --disable-pip-version-check "$root[build]"
step "building the bundle and the .deb"
build/venv/bin/python packaging/build.py --installer
version=$(build/venv/bin/python -c 'import lifeboat; print(lifeboat.__version__)')
deb=$(ls "$root"/dist/lifeboat_"$version"_*.deb)
echo "smoke: bundle $(du -sh dist/lifeboat | cut -f1), package $(du -h "$deb" | cut -f1)"

step "installing $deb"
if ! $sudo dpkg -i "$deb"; then  # missing Depends: let apt bring them and finish
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -f -y -qq
fi
dpkg-query -W -f '${Status}\n' lifeboat | grep -qx "install ok installed" \
  || fail "the package did not install"

for file in /usr/share/applications/lifeboat.desktop /usr/lib/systemd/user/lifeboat.service \
            /usr/share/icons/hicolor/scalable/apps/lifeboat.svg \
            /usr/share/icons/hicolor/256x256/apps/lifeboat.png; do
  [ -s "$file" ] || fail "$file is not installed"
done
[ "$(readlink -f /usr/bin/lifeboat)" = /opt/lifeboat/lifeboat ] || fail "/usr/bin/lifeboat"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate /usr/share/applications/lifeboat.desktop
fi

work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  # A failed run must not leave the package on the machine for the next one.
  if dpkg-query -W -f '${Status}' lifeboat 2>/dev/null | grep -q "ok installed"; then
    $sudo dpkg -r lifeboat >/dev/null || true
  fi
}
trap cleanup EXIT
step "smoke tests of the installed /usr/bin/lifeboat"
bash packaging/smoke_installed.sh /usr/bin/lifeboat "$version" "$work"

step "uninstalling"
$sudo dpkg -r lifeboat >/dev/null
[ ! -e /usr/bin/lifeboat ] && [ ! -e /opt/lifeboat ] || fail "dpkg -r left files behind"
[ -s "$work/home/catalog.sqlite" ] || fail "uninstalling touched the user's data"
step "build, install, smoke test and uninstall passed"
