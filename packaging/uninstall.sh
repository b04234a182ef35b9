#!/bin/sh
# Remove StethoDesk installed by install.sh for the current user:
#   $XDG_DATA_HOME/stethodesk-app/ (the app), the menu entry, the icon and the ~/.local/bin launcher
#   (XDG_DATA_HOME defaults to ~/.local/share).
# Kept: recordings, the database and settings in $XDG_DATA_HOME/stethodesk (or STETHODESK_HOME),
# and the assembled base model in ${XDG_CACHE_HOME:-~/.cache}/stethodesk (253 MB, remade at the
# next start of any StethoDesk; delete that folder by hand if nothing else uses it).
# Each file is removed only if it is the one install.sh wrote. Exit status 0 (also when nothing
# was installed).
set -eu

main() {
  DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
  DEST="$DATA/stethodesk-app"
  ENTRY="$DATA/applications/stethodesk.desktop"
  ICON="$DATA/icons/hicolor/256x256/apps/stethodesk.png"
  LAUNCHER="$HOME/.local/bin/stethodesk"
  MARK="StethoDesk launcher written by install.sh"
  cd /  # this script may live in the folder it removes

  if [ -f "$ENTRY" ] && grep -qF "Exec=\"$DEST/stethodesk\"" "$ENTRY"; then
    rm -f "$ENTRY"
    echo "removed $ENTRY"
    if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database "$DATA/applications" || true; fi
  fi
  if [ -f "$ICON" ]; then rm -f "$ICON"; echo "removed $ICON"; fi
  if [ -f "$LAUNCHER" ] && grep -qF "$MARK" "$LAUNCHER"; then rm -f "$LAUNCHER"; echo "removed $LAUNCHER"; fi
  if [ -x "$DEST/stethodesk" ] && [ -d "$DEST/_internal" ]; then
    rm -rf "$DEST" "$DEST.new" "$DEST.old"
    echo "removed $DEST"
  elif [ -e "$DEST" ]; then
    echo "uninstall.sh: $DEST does not look like a StethoDesk build: left alone" >&2
  else
    echo "StethoDesk was not installed in $DEST"
  fi
  echo "kept your recordings, database and settings in ${STETHODESK_HOME:-$DATA/stethodesk}"
}

# the whole script is read before main runs, so removing this file's folder cannot cut it short
main "$@"
exit 0
