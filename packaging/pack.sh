#!/bin/sh
# Ship a built one-folder app as one archive with its checksum (Linux). build.sh calls it last.
#
#   packaging/pack.sh APP_DIR VERSION
#
# APP_DIR is the PyInstaller output folder (holding the `stethodesk` executable and _internal/).
# It adds the per-user installer (install.sh, uninstall.sh), the menu entry and the icon to
# APP_DIR, then writes beside APP_DIR:
#   stethodesk-VERSION-linux-ARCH.tar.gz         APP_DIR packed as the folder `stethodesk/`
#   stethodesk-VERSION-linux-ARCH.tar.gz.sha256  `sha256sum` format: check with `sha256sum -c`
# and prints the archive's path on its last line. Exit status 1 with a message when APP_DIR is not a
# build or VERSION is empty.
set -eu
[ $# -eq 2 ] || { echo "usage: packaging/pack.sh APP_DIR VERSION" >&2; exit 2; }
HERE="$(cd "$(dirname "$0")" && pwd)"
APP="$(cd "$1" && pwd)"
VERSION="$2"
[ -n "$VERSION" ] || { echo "pack.sh: empty version" >&2; exit 1; }
[ -x "$APP/stethodesk" ] && [ -d "$APP/_internal" ] || {
  echo "pack.sh: $APP is not a StethoDesk build (no stethodesk executable and _internal/)" >&2; exit 1; }
[ "$(basename "$APP")" = stethodesk ] || { echo "pack.sh: the build folder must be named stethodesk, not $(basename "$APP")" >&2; exit 1; }

cp "$HERE/icons/stethodesk.png" "$HERE/icons/stethodesk.svg" "$HERE/stethodesk.desktop" "$APP/"
cp "$HERE/install.sh" "$HERE/uninstall.sh" "$APP/"
chmod +x "$APP/install.sh" "$APP/uninstall.sh"

OUT="$(dirname "$APP")"
NAME="stethodesk-$VERSION-linux-$(uname -m).tar.gz"
rm -f "$OUT/$NAME" "$OUT/$NAME.sha256"
# written under a temporary name: an interrupted run leaves no archive that looks complete
tar -C "$OUT" -czf "$OUT/$NAME.part" stethodesk
mv "$OUT/$NAME.part" "$OUT/$NAME"
(cd "$OUT" && sha256sum "$NAME" > "$NAME.sha256")
echo "$OUT/$NAME ($(du -h "$OUT/$NAME" | cut -f1)), checksum $OUT/$NAME.sha256"
echo "$OUT/$NAME"
