#!/bin/sh
# A new user's first run, recorded with tmux: install from a clean clone, the demo, three
# members, a wrong key, a duplicate name, a kill -9 and Ctrl-C.  Every pane is captured as
# text into docs/first-run/session.txt (committed), so each message can be read and checked.
#
#   sh docs/first-run/record.sh            # from the repository root; takes 2-4 minutes
#
# Uses only loopback addresses (127.0.0.1:7946..7950) and a tmux server of its own.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/docs/first-run/session.txt"
WORK=$(mktemp -d /tmp/swimcore-first-run.XXXXXX)
SOCK="$WORK/tmux.sock"
T="tmux -S $SOCK"
trap '$T kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT

say() { printf '\n$ %s\n' "$*" >> "$OUT"; }
run() { say "$*"; (cd "$WORK/swimcore" && sh -c "$*") >> "$OUT" 2>&1 || echo "(exit status $?)" >> "$OUT"; }
pane() {  # pane NAME COMMAND: a new tmux window running COMMAND in the clone's venv
    $T new-window -d -n "$1" -c "$WORK/swimcore" "sh -c '. .venv/bin/activate; $2; exec sleep 600'"
}
capture() {  # capture NAME TITLE
    printf '\n---- %s: %s ----\n' "$1" "$2" >> "$OUT"
    $T capture-pane -p -J -t "$1" -S -200 | sed -e '/^$/N;/^\n$/D' >> "$OUT"
}

: > "$OUT"
echo "# swimcore: a new user's first run, recorded $(date -u +%Y-%m-%d) on $(nproc) cores, $(python3 --version)" >> "$OUT"
git clone -q "$ROOT" "$WORK/swimcore"

# (grep drops a notice of this machine's pip configuration, not of swimcore's install)
run "python3 -m venv .venv && .venv/bin/pip install -q . 2>&1 | grep -v \"is ignored: it is neither\"; .venv/bin/swimcore --version"
run "make demo 2>&1 | tail -12"

$T new-session -d -s first -n shell -x 160 -y 50
$T set-option -g remain-on-exit on
printf '%s\n%s\n' "$(python3 -c 'import os; print(os.urandom(16).hex())')" > "$WORK/key-a"
printf '%s\n' "$(python3 -c 'import os; print(os.urandom(16).hex())')" > "$WORK/key-b"

# Three members of group "demo", the first starting it.
pane m1 "swimcore run demo 127.0.0.1:7946 127.0.0.1:7946 --preset local --name m1 --print-every 5"
sleep 2
pane m2 "swimcore run demo 127.0.0.1:7947 127.0.0.1:7946 --preset local --name m2 --print-every 5"
pane m3 "swimcore run demo 127.0.0.1:7948 127.0.0.1:7946 --preset local --name m3 --print-every 5"
sleep 8
capture m1 "three members"

# A member of another group, and one with a key the group does not use.
pane other "swimcore run other 127.0.0.1:7949 127.0.0.1:7946 --preset local --name x --duration 6"
pane keyed "swimcore run demo 127.0.0.1:7950 127.0.0.1:7946 --preset local --name k --key-file $WORK/key-b --duration 6"
sleep 8
capture other "another group label"
capture keyed "a key file without the crypto extra"
run ".venv/bin/pip install -q '.[crypto]' 2>&1 | grep -v \"is ignored: it is neither\"; true"
pane keyed2 "swimcore run demo 127.0.0.1:7950 127.0.0.1:7946 --preset local --name k --key-file $WORK/key-b --duration 6"
sleep 8
capture keyed2 "a key the group does not use"
capture m1 "what the group's member saw"

# Two members with one name.
pane dup "swimcore run demo 127.0.0.1:7951 127.0.0.1:7946 --preset local --name m2 --duration 6"
sleep 8
capture dup "a second member named m2"

# kill -9 of m3: the others detect the crash.
pid=$(pgrep -f "127.0.0.1:7948 127.0.0.1:7946" | head -1)
kill -9 "$pid"
sleep 10
capture m1 "after kill -9 of m3"

# Ctrl-C on m2: it leaves gracefully; m1 sees a leave, not a failure.
$T send-keys -t m2 C-c
sleep 4
capture m2 "Ctrl-C"
capture m1 "after m2 left"
$T send-keys -t m1 C-c
sleep 3
capture m1 "Ctrl-C on the last member"
echo "recorded in $OUT"
