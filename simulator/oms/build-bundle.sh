#!/bin/sh
#
# Regenerates the simulated OMS shell bundle from its sources:
#
#   simulator/oms/src/simlib.sh        common code, pasted into all three scripts
#   simulator/oms/src/bundle.sh        the bundle itself
#   simulator/oms/src/omsadmin.sh      the omsadmin.sh the bundle installs
#   simulator/oms/src/service_control  the service_control the bundle installs
#
# into the single self-contained file simulator/oms/omsagent-0.0.0-sim.universal.x64.sh
# (omsadmin.sh and service_control are embedded as quoted here-documents, so
# the bundle works when copied alone anywhere). The generated bundle is not
# committed: scripts/build.mjs (the first step of npm test, start, package and
# bench) runs this script.
#
# usage: sh simulator/oms/build-bundle.sh [OUTPUT]     (default: simulator/oms/omsagent-0.0.0-sim.universal.x64.sh)

set -eu

HERE=$(cd "$(dirname "$0")" && pwd -P)
SRC=$HERE/src
OUT=${1:-$HERE/omsagent-0.0.0-sim.universal.x64.sh}
WORK=${TMPDIR:-/tmp}/omssim-build.$$
mkdir "$WORK"
trap 'rm -rf "$WORK"' EXIT INT TERM

# splice FILE MARKER REPLACEMENT_FILE: FILE with the line equal to MARKER replaced
# by the contents of REPLACEMENT_FILE (exactly one such line must exist).
splice() {
    OMSSIM_RFILE=$3 awk -v marker="$2" '
        $0 == marker {
            rfile = ENVIRON["OMSSIM_RFILE"]
            while ((getline line < rfile) > 0) print line
            close(rfile)
            found++
            next
        }
        { print }
        END { if (found != 1) exit 3 }' "$1" || {
        echo "build-bundle: expected exactly one line '$2' in $1" >&2
        exit 1
    }
}

# embed NAME FILE: a shell function sim_payload_NAME printing FILE verbatim.
embed() {
    delim="__OMSSIM_END_OF_$1__"
    if grep -qx "$delim" "$2"; then
        echo "build-bundle: $2 contains the line $delim" >&2
        exit 1
    fi
    echo "sim_payload_$1() {"
    echo "cat <<'$delim'"
    cat "$2"
    echo "$delim"
    echo "}"
    echo
}

splice "$SRC/omsadmin.sh" "# @@OMSSIM_LIB@@" "$SRC/simlib.sh" > "$WORK/omsadmin.sh"
splice "$SRC/service_control" "# @@OMSSIM_LIB@@" "$SRC/simlib.sh" > "$WORK/service_control"
{
    embed omsadmin "$WORK/omsadmin.sh"
    embed service_control "$WORK/service_control"
} > "$WORK/payload.sh"

splice "$SRC/bundle.sh" "# @@OMSSIM_LIB@@" "$SRC/simlib.sh" > "$WORK/bundle.1"
splice "$WORK/bundle.1" "# @@OMSSIM_PAYLOAD@@" "$WORK/payload.sh" > "$WORK/bundle.sh"

for f in "$WORK/omsadmin.sh" "$WORK/service_control" "$WORK/bundle.sh"; do
    sh -n "$f" || {
        echo "build-bundle: syntax error in generated $(basename "$f")" >&2
        exit 1
    }
done

cp "$WORK/bundle.sh" "$OUT.tmp.$$"
chmod 755 "$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"
echo "wrote $OUT"
