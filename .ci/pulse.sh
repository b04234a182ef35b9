#!/bin/sh
# Start the PulseAudio virtual microphone used by the capture tests and benchmarks/live.py.
#
# A pipe source turns s16le mono 48 kHz PCM written into a FIFO into a capture device that
# PortAudio sees as "pulse" (through libasound2-plugins). Idempotent: does nothing when the
# server already answers. Needs Debian: pulseaudio pulseaudio-utils libasound2-plugins libportaudio2.
#
# Environment (the tests read the same variables, so export them before running pytest):
#   XDG_RUNTIME_DIR  shared by the server and its clients (default /tmp/stethodesk-xdg)
#   STETH_FIFO       the FIFO the virtual microphone reads (default /tmp/steth.fifo)
set -eu
: "${XDG_RUNTIME_DIR:=/tmp/stethodesk-xdg}"
: "${STETH_FIFO:=/tmp/steth.fifo}"
export XDG_RUNTIME_DIR
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

if pactl info >/dev/null 2>&1; then
    if ! pactl list short sources | grep -q stethmic; then
        rm -f "$STETH_FIFO"
        pactl load-module module-pipe-source source_name=stethmic file="$STETH_FIFO" \
            format=s16le rate=48000 channels=1 >/dev/null
    fi
    echo "pulse.sh: PulseAudio already running (XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR)"
    exit 0
fi
# module-pipe-source makes the FIFO itself and refuses to load if the path exists (a
# leftover of a killed server), so clear it first.
rm -f "$STETH_FIFO"
# -n: no default script; --exit-idle-time=-1: stay up between tests. As root it only warns.
pulseaudio -D -n --exit-idle-time=-1 \
    --load=module-native-protocol-unix \
    --load="module-pipe-source source_name=stethmic file=$STETH_FIFO format=s16le rate=48000 channels=1" \
    2>/dev/null || true
i=0
until pactl info >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -gt 50 ] && { echo "pulse.sh: PulseAudio did not start" >&2; exit 1; }
    sleep 0.1
done
if ! pactl list short sources | grep -q stethmic; then
    echo "pulse.sh: the pipe source did not load (is $STETH_FIFO writable?)" >&2
    exit 1
fi
pactl set-default-source stethmic >/dev/null 2>&1 || true
echo "pulse.sh: PulseAudio virtual microphone 'stethmic' reads $STETH_FIFO (XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR)"
