# ---------------------------------------------------------------------------
# omssim common library.
#
# This file is not run on its own: simulator/oms/build-bundle.sh pastes it into the
# fake bundle and into the fake omsadmin.sh and service_control at the line
# "# @@OMSSIM_LIB@@", so every generated script is self-contained.
#
# POSIX sh only (runs under dash). All names start with sim_ / SIM_ so they do
# not collide with the tool code. No "local": plain globals with a prefix.
#
# Each tool must define, before calling sim_fault_check:
#   sim_fault_emit SCENARIO  print the scenario's output, set SIM_CODE, return 0;
#                            return 1 (printing nothing) for an unknown scenario.
#                            Must have no side effects besides printing.
#   sim_hang_line            print the line a "hang" scenario shows first.
#   sim_finish CODE          print the tool's closing lines (if any) and exit CODE.
# ---------------------------------------------------------------------------

SIM_VERSION=0.0.0-sim

# Physical path of directory $1 (symlinks resolved), or failure.
sim_norm_dir() {
    (cd -P "$1" 2>/dev/null && pwd -P)
}

# sim_root_check VALUE -> sets ROOT, or sets SIM_ROOT_ERROR and returns 1.
sim_root_check() {
    SIM_ROOT_ERROR=
    if [ -z "$1" ]; then
        SIM_ROOT_ERROR="OMS_HANDLER_ROOT is not set"
        return 1
    fi
    case $1 in
        /*) ;;
        *) SIM_ROOT_ERROR="OMS_HANDLER_ROOT must be an absolute path, got '$1'"; return 1 ;;
    esac
    if [ ! -d "$1" ]; then
        SIM_ROOT_ERROR="OMS_HANDLER_ROOT '$1' is not an existing directory"
        return 1
    fi
    if ! sim_rc_norm=$(sim_norm_dir "$1"); then
        SIM_ROOT_ERROR="OMS_HANDLER_ROOT '$1' cannot be entered"
        return 1
    fi
    if [ "$sim_rc_norm" = / ]; then
        SIM_ROOT_ERROR="OMS_HANDLER_ROOT must not be / (the simulator never touches the real system)"
        return 1
    fi
    ROOT=$sim_rc_norm
    return 0
}

# Root of an installed tool: the root baked in at install time ($1). The
# environment variable may be set too, but then it must name the same directory.
sim_root_installed() {
    if ! sim_root_check "$1"; then
        SIM_ROOT_ERROR="this copy was installed into '$1', which is no longer usable: $SIM_ROOT_ERROR"
        return 1
    fi
    if [ -n "${OMS_HANDLER_ROOT-}" ]; then
        sim_ri_baked=$ROOT
        if ! sim_root_check "$OMS_HANDLER_ROOT" || [ "$ROOT" != "$sim_ri_baked" ]; then
            SIM_ROOT_ERROR="OMS_HANDLER_ROOT='$OMS_HANDLER_ROOT' differs from the root this copy was installed into ('$sim_ri_baked')"
            return 1
        fi
    fi
    return 0
}

# Shell-ish quoting for calls.log: plain words stay as they are; anything else
# is single-quoted, with ' written as '\'' and newline, tab and backslash
# written as \n, \t and \\ (so one call is always one line).
sim_quote() {
    case $1 in
        '') printf "''" ;;
        *[!A-Za-z0-9_./:=@%+,-]*)
            printf '%s' "$1" | awk -v q="'" '
                { if (NR > 1) out = out "\\n"
                  n = length($0)
                  for (i = 1; i <= n; i++) {
                      c = substr($0, i, 1)
                      if (c == "\\") out = out "\\\\"
                      else if (c == "\t") out = out "\\t"
                      else if (c == q) out = out q "\\" q q
                      else out = out c
                  } }
                END { printf "%s%s%s", q, out, q }' ;;
        *) printf '%s' "$1" ;;
    esac
}

# Append "<tool> <args...><TAB>LC_ALL=<value>" to $ROOT/.omssim/calls.log.
sim_log_call() {
    sim_lc_line=$1
    shift
    for sim_lc_a in "$@"; do
        sim_lc_line="$sim_lc_line $(sim_quote "$sim_lc_a")"
    done
    if [ "${LC_ALL+set}" = set ]; then
        sim_lc_env="LC_ALL=$(sim_quote "$LC_ALL")"
    else
        sim_lc_env="LC_ALL=<unset>"
    fi
    mkdir -p "$ROOT/.omssim" 2>/dev/null
    printf '%s\t%s\n' "$sim_lc_line" "$sim_lc_env" >> "$ROOT/.omssim/calls.log"
}

sim_trim() {
    printf '%s' "$1" | tr -d '\r' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

sim_fault_invalid() {
    echo "omssim: invalid fault file $1: $2" >&2
    exit 99
}

# sim_fault_check POINT
# Reads $ROOT/.omssim/faults/POINT (line 1: scenario; optional line 2: times=N),
# consumes one use of it and applies it:
#   no file          -> returns 0 (act normally)
#   slow:<seconds>   -> sleeps, then returns 0 (act normally)
#   hang             -> prints sim_hang_line, blocks in a child "sleep 3600"
#   anything else    -> sim_fault_emit prints the output, sim_finish exits
# Internal calls between simulated tools (OMS_SIM_INTERNAL=1) never consume faults.
sim_fault_check() {
    sim_fault_take "$1" || return 0
    sim_fault_apply "$1"
}

# sim_fault_take POINT: reads, validates and consumes one use of the fault armed
# at POINT, sets SIM_FAULT to its scenario and returns 0; returns 1 (SIM_FAULT
# empty) when there is none. A tool whose real counterpart fails at different
# stages (omsadmin.sh onboarding) takes the fault first and applies it later.
sim_fault_take() {
    SIM_FAULT=
    [ -n "${OMS_SIM_INTERNAL-}" ] && return 1
    sim_ff=$ROOT/.omssim/faults/$1
    [ -f "$sim_ff" ] || return 1

    sim_fc_n=0
    sim_fc_scenario=
    sim_fc_times=
    while IFS= read -r sim_fc_l || [ -n "$sim_fc_l" ]; do
        sim_fc_n=$((sim_fc_n + 1))
        sim_fc_l=$(sim_trim "$sim_fc_l")
        if [ "$sim_fc_n" -eq 1 ]; then
            sim_fc_scenario=$sim_fc_l
        elif [ "$sim_fc_n" -eq 2 ]; then
            case $sim_fc_l in
                '') ;;
                times=*) sim_fc_times=${sim_fc_l#times=} ;;
                *) sim_fault_invalid "$sim_ff" "line 2 must be 'times=N', got '$sim_fc_l'" ;;
            esac
        fi
    done < "$sim_ff"

    [ -n "$sim_fc_scenario" ] || sim_fault_invalid "$sim_ff" "line 1 (the scenario) is empty"
    if [ -n "$sim_fc_times" ]; then
        case $sim_fc_times in
            *[!0-9]* | 0*) sim_fault_invalid "$sim_ff" "times must be a positive integer, got '$sim_fc_times'" ;;
        esac
    fi

    # Validate before consuming a use.
    case $sim_fc_scenario in
        hang) ;;
        slow:*)
            case ${sim_fc_scenario#slow:} in
                '' | *[!0-9.]* | *.*.* | .*) sim_fault_invalid "$sim_ff" "slow needs seconds, e.g. slow:2 or slow:0.5, got '$sim_fc_scenario'" ;;
            esac ;;
        *)
            if ! sim_fault_emit "$sim_fc_scenario" >/dev/null 2>&1; then
                sim_fault_invalid "$sim_ff" "unknown scenario '$sim_fc_scenario' for point '$1' (see simulator/README.md)"
            fi ;;
    esac

    # Consume one use.
    if [ -n "$sim_fc_times" ]; then
        if [ "$sim_fc_times" -le 1 ]; then
            rm -f "$sim_ff"
        else
            printf '%s\ntimes=%s\n' "$sim_fc_scenario" "$((sim_fc_times - 1))" > "$sim_ff.tmp.$$" &&
                mv -f "$sim_ff.tmp.$$" "$sim_ff"
        fi
    fi

    SIM_FAULT=$sim_fc_scenario
    return 0
}

# sim_fault_apply POINT: applies SIM_FAULT (see sim_fault_check).
sim_fault_apply() {
    case $SIM_FAULT in
        hang)
            sim_hang_line
            sim_hang "$1" ;;
        slow:*)
            sleep "${SIM_FAULT#slow:}"
            return 0 ;;
        *)
            SIM_CODE=
            sim_fault_emit "$SIM_FAULT"
            sim_finish "$SIM_CODE" ;;
    esac
}

# OMS_SIM_PACE=realistic: the simulated tools take about as long as the real
# ones (a real enable took 7-14 s: RSA key generation in agent_maintenance_script.rb,
# the HTTPS request, `su - omsagent` for the metaconfig, service_control's
# 0.5 s polls while systemd starts the daemon). Unset (or "fast"): no waiting.
# sim_pace SECONDS: sleeps that long only at the realistic pace.
sim_pace() {
    case ${OMS_SIM_PACE-} in
        '' | fast) return 0 ;;
        realistic) sleep "$1" ;;
        *)
            echo "omssim: OMS_SIM_PACE must be 'realistic' or 'fast' (or unset), got '$OMS_SIM_PACE'" >&2
            exit 99 ;;
    esac
}

# Block in a child process (same process group) so that callers must kill the
# whole group. Pids are recorded for tests:
#   $ROOT/.omssim/state/hang/<point>.pid        the tool's own shell
#   $ROOT/.omssim/state/hang/<point>.child.pid  the "sleep 3600" child
sim_hang() {
    sim_hd=$ROOT/.omssim/state/hang
    mkdir -p "$sim_hd"
    echo $$ > "$sim_hd/$1.pid"
    /bin/sh -c 'echo "$$" > "$1"; exec sleep 3600' sh "$sim_hd/$1.child.pid"
    sim_finish $?
}

# The agent's account (simulator README: "Ownership"): fixed ids, created by
# the bundle in $ROOT/etc/passwd and $ROOT/etc/group.
SIM_OMSAGENT_UID=4711
SIM_OMSAGENT_GID=4713
SIM_OMIUSERS_GID=4712

# Like the real tools' chown omsagent:omiusers: only when run as root, and
# silently skipped when the account does not exist (omsadmin.sh chown_omsagent
# sends chown's errors to /dev/null and returns 0). sim_chown_agent [-R] PATH...
sim_chown_agent() {
    sim_ca_opt=
    if [ "$1" = -R ]; then sim_ca_opt=-R; shift; fi
    [ "$(id -u)" -eq 0 ] || return 0
    grep -q "^omsagent:x:$SIM_OMSAGENT_UID:" "$ROOT/etc/passwd" 2>/dev/null || return 0
    chown -h $sim_ca_opt "$SIM_OMSAGENT_UID:$SIM_OMIUSERS_GID" "$@" >/dev/null 2>&1 || true
}

# Agent GUID generator.
sim_new_guid() {
    if [ -r /proc/sys/kernel/random/uuid ]; then
        cat /proc/sys/kernel/random/uuid
    else
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
            sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\).*/\1-\2-\3-\4-\5/'
        echo
    fi
}

sim_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d' ' -f1
    else
        openssl dgst -sha256 -r 2>/dev/null | cut -d' ' -f1
    fi
}
# --------------------------- end of omssim library --------------------------
