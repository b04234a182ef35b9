#!/bin/sh
# Install StethoDesk for the current user (Linux, no root needed). Run it from the unpacked folder:
#
#   tar xzf stethodesk-<version>-linux-x86_64.tar.gz && stethodesk/install.sh
#
# What it writes (XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/stethodesk-app/                          the app (a copy of this folder)
#   $XDG_DATA_HOME/applications/stethodesk.desktop          the menu entry
#   $XDG_DATA_HOME/icons/hicolor/256x256/apps/stethodesk.png the icon
#   ~/.local/bin/stethodesk                                 a launcher, so `stethodesk` works in a terminal
#                                                           (left alone if a `stethodesk` not made here is there)
# Installing again replaces the app (an upgrade). Recordings, the database and settings live in
# $XDG_DATA_HOME/stethodesk (or STETHODESK_HOME) and are never touched by install or uninstall.
# Undo: $XDG_DATA_HOME/stethodesk-app/uninstall.sh
# Exit status: 0 installed and starts; 1 not installed (message says why) or installed but the
# app does not start on this system (message shows its error).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
DEST="$DATA/stethodesk-app"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor/256x256/apps"
BIN="$HOME/.local/bin"
MARK="StethoDesk launcher written by install.sh"

for f in stethodesk stethodesk.desktop stethodesk.png uninstall.sh; do
  [ -e "$HERE/$f" ] || { echo "install.sh: $HERE/$f is missing: run me from the unpacked StethoDesk folder" >&2; exit 1; }
done
case "$DEST" in
  *[\"\`\$\\%]*) echo "install.sh: cannot write a menu entry for the folder $DEST (it holds one of \" \` \$ \\ %); set XDG_DATA_HOME to a plainer folder" >&2; exit 1 ;;
esac

# 1. the app: copy beside the old one, then swap, so a failed copy (full disk) leaves the old one working
if [ "$HERE" != "$DEST" ]; then
  mkdir -p "$DATA"
  rm -rf "$DEST.new"
  trap 'rm -rf "$DEST.new"' EXIT
  cp -a "$HERE" "$DEST.new"
  rm -rf "$DEST.old"
  if [ -d "$DEST" ]; then mv "$DEST" "$DEST.old"; fi
  mv "$DEST.new" "$DEST"
  rm -rf "$DEST.old"
  trap - EXIT
fi

# 2. menu entry and icon, with absolute paths to this installation
mkdir -p "$APPS" "$ICONS"
cp "$DEST/stethodesk.png" "$ICONS/stethodesk.png"
sed_escape() { printf '%s' "$1" | sed -e 's/[&|]/\\&/g'; }
sed -e "s|^Exec=.*|Exec=\"$(sed_escape "$DEST")/stethodesk\"|" \
    -e "s|^Icon=.*|Icon=$(sed_escape "$ICONS")/stethodesk.png|" \
    "$DEST/stethodesk.desktop" > "$APPS/stethodesk.desktop"
chmod +x "$APPS/stethodesk.desktop"
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database "$APPS" || true; fi

# 3. the terminal command, unless someone else's `stethodesk` is there (a pip install, say)
mkdir -p "$BIN"
if [ -e "$BIN/stethodesk" ] && ! grep -q "$MARK" "$BIN/stethodesk" 2>/dev/null; then
  echo "install.sh: $BIN/stethodesk exists and was not made here: left alone (start the app with $DEST/stethodesk)"
else
  printf '#!/bin/sh\n# %s\nexec "%s/stethodesk" "$@"\n' "$MARK" "$DEST" > "$BIN/stethodesk"
  chmod +x "$BIN/stethodesk"
fi

echo "installed $DEST"
echo "menu entry $APPS/stethodesk.desktop"
# the build needs a recent enough glibc and a few desktop libraries: say so now, not at the first click
if version="$("$DEST/stethodesk" --version 2>&1)"; then
  echo "$version: start it from the application menu or with $BIN/stethodesk"
else
  echo "install.sh: installed, but the app does not start on this system:" >&2
  echo "$version" | tail -5 >&2
  echo "install.sh: remove it again with $DEST/uninstall.sh" >&2
  exit 1
fi
