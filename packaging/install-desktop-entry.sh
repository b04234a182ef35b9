#!/bin/sh
# Add StethoDesk to the desktop's application menu for the current user (Linux).
# Run it from the unpacked build folder: ./install-desktop-entry.sh
# It writes ~/.local/share/applications/stethodesk.desktop pointing at this folder and
# installs the icon into ~/.local/share/icons/hicolor. Remove those two files to undo.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$APPS" "$ICONS"
cp "$HERE/stethodesk.png" "$ICONS/stethodesk.png"
sed -e "s|^Exec=.*|Exec=\"$HERE/stethodesk\"|" -e "s|^Icon=.*|Icon=$ICONS/stethodesk.png|" \
    "$HERE/stethodesk.desktop" > "$APPS/stethodesk.desktop"
chmod +x "$APPS/stethodesk.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
echo "installed $APPS/stethodesk.desktop"
