#!/usr/bin/env bash
# The macOS disk image: Lifeboat.app beside a link to /Applications, so installing is a
# drag and drop. macOS only (hdiutil). packaging/build.py --installer runs it:
#   bash installer/macos/build_dmg.sh dist/Lifeboat.app dist/Lifeboat-0.1.0.dmg
#
# With LIFEBOAT_NOTARY_PROFILE set (a keychain profile made by
# `xcrun notarytool store-credentials`), the image is also notarized and stapled; that
# needs the app signed with a Developer ID (LIFEBOAT_CODESIGN_IDENTITY at build time,
# see packaging/lifeboat.spec). Without it the image is unsigned: Gatekeeper asks the
# user to confirm the first start (Control-click > Open).
set -euo pipefail
app=$1
dmg=$2
[ -x "$app/Contents/MacOS/lifeboat" ] || { echo "build_dmg: $app is not a Lifeboat.app" >&2; exit 1; }
version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$app/Contents/Info.plist")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ditto keeps the bundle's symbolic links, extended attributes and code signatures.
ditto "$app" "$stage/Lifeboat.app"
ln -s /Applications "$stage/Applications"
# UDZO: zlib-compressed and read-only, opens on every supported macOS version.
hdiutil create -volname "Lifeboat $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"

if [ -n "${LIFEBOAT_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$LIFEBOAT_NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
echo "$dmg"
