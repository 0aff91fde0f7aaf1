#!/usr/bin/env bash
# Package the one-folder Linux build (dist/lifeboat, from packaging/build.py) as a .deb
# with the standard Debian tools: dist/lifeboat_<version>_<arch>.deb.
#
#   /opt/lifeboat/                         the bundle
#   /usr/bin/lifeboat                      -> /opt/lifeboat/lifeboat
#   /usr/share/applications/lifeboat.desktop
#   /usr/share/icons/hicolor/{scalable,256x256}/apps/lifeboat.{svg,png}
#   /usr/lib/systemd/user/lifeboat.service (installed, not enabled)
#
# No maintainer scripts: dpkg's triggers refresh the icon cache and the desktop database.
# DEB_MAINTAINER="Name <address>" sets the Maintainer field (the default is a placeholder).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bundle=$root/dist/lifeboat
[ -x "$bundle/lifeboat" ] || { echo "build_deb: no $bundle/lifeboat; run packaging/build.py" >&2; exit 1; }

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
stage=$root/build/deb/lifeboat
deb=$root/dist/lifeboat_${version}_${arch}.deb
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
  "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/usr/share/icons/hicolor/256x256/apps" \
  "$stage/usr/lib/systemd/user" "$stage/usr/share/doc/lifeboat"

cp -a "$bundle" "$stage/opt/lifeboat"
ln -s /opt/lifeboat/lifeboat "$stage/usr/bin/lifeboat"
install -m 0644 installer/linux/lifeboat.desktop "$stage/usr/share/applications/"
install -m 0644 app/lifeboat/resources/icons/lifeboat.svg "$stage/usr/share/icons/hicolor/scalable/apps/"
install -m 0644 resources/lifeboat.png "$stage/usr/share/icons/hicolor/256x256/apps/"
install -m 0644 installer/linux/lifeboat.service "$stage/usr/lib/systemd/user/"
install -m 0644 installer/linux/copyright "$stage/usr/share/doc/lifeboat/"
# Modes as a package should have them whatever the umask of the build: directories and
# programs 0755, the rest 0644.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage/opt" -type f -exec chmod go-w,a+r {} +
find "$stage/opt" -type f -name '*.so*' -exec chmod 0644 {} +  # loaded, never run

# The newest glibc symbol any bundled binary uses is the oldest libc6 it runs on.
glibc=$(find "$bundle" -type f \( -name '*.so*' -o -name lifeboat \) -exec objdump -T {} + 2>/dev/null \
  | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
# The desktop stack Qt's libraries and plugins link, left out of the bundle on purpose
# (packaging/bundle_trim.py): X11/xcb, Wayland, EGL/GL, fonts, D-Bus, GLib, Kerberos and
# brotli (QtNetwork). GTK is not here: only the GTK theme plugin wants it, and Qt goes
# without that plugin where GTK is missing.
depends=(
  "libc6 (>= $glibc)" libstdc++6 libgcc-s1
  libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0
  libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
  libxcb-util1 libxcb-xfixes0 libxcb-xkb1
  libwayland-client0 libwayland-cursor0 libwayland-egl1
  libgssapi-krb5-2 libbrotli1
)
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: lifeboat
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-Lifeboat developers <maintainers@lifeboat.invalid>}
Installed-Size: $installed_kb
Depends: $(IFS=,; echo "${depends[*]}" | sed 's/,/, /g')
Recommends: sqlite3, zstd
Section: utils
Priority: optional
Description: keeps SQLite databases safe from the system tray
 Lifeboat takes consistent online snapshots of live SQLite databases on a
 schedule, checks, compresses and checksums them, keeps them under a retention
 policy, optionally copies them to S3-compatible storage, and restores any of
 them in one guided step. A tray app for desktops and a command line and
 scheduler (lifeboat run, or the lifeboat user service) for servers.
CONTROL

mkdir -p dist
dpkg-deb --build --root-owner-group -Zxz "$stage" "$deb" >/dev/null
echo "$deb"
