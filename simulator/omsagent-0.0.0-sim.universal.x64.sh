#!/bin/sh
#
# SIMULATED OMS agent shell bundle (omsagent-0.0.0-sim.universal.x64.sh).
#
# NOT the real Log Analytics agent. It accepts the options of the real
# omsagent-<ver>.universal.x64.sh (legacy handler spec §10.1) and "installs"
# a fake omsadmin.sh and service_control into directories under
# $OMS_HANDLER_ROOT, which must be set (absolute, existing, not /).
# Every failure the real bundle can report can be injected with a fault file,
# see simulator/README.md.
#
# GENERATED FILE: edit simulator/src/*.sh and run simulator/build-bundle.sh.
# POSIX sh only.

PATH=/usr/bin:/usr/sbin:/bin:/sbin
umask 022

# ---------------------------------------------------------------------------
# omssim common library.
#
# This file is not run on its own: simulator/build-bundle.sh pastes it into the
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
    SIM_FAULT=
    [ -n "${OMS_SIM_INTERNAL-}" ] && return 0
    sim_ff=$ROOT/.omssim/faults/$1
    [ -f "$sim_ff" ] || return 0

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

BUNDLE_VERSION=0.0.0-sim
OMS_PKG=omsagent-0.0.0-sim.universal.x64
DSC_PKG=omsconfig-1.2.0-0.universal.x64
OMI_PKG=omi-1.7.1-0.ssl_110.ulinux.x64
SCX_PKG=scx-1.7.1-0.ssl_110.universal.x64
DOCKER_PKG=docker-cimprov-1.0.0-0.universal.x86_64

DEPRECATION_NOTICE="WARNING: The Log Analytics agent (OMS) is on a deprecation path and is not supported after August 31, 2024. Migrate to the Azure Monitor Agent: https://learn.microsoft.com/azure/azure-monitor/agents/azure-monitor-agent-migration"

sim_finish() {
    printf '\033[0;31m%s\033[0m\n' "$DEPRECATION_NOTICE"
    printf 'OMS agent shell bundle exiting with status code %s\n' "$1"
    exit "$1"
}

# ------------------------------ fault outputs --------------------------------
# OP is upgrade|install|remove|purge (depends on the fault point), OP_CAP the
# capitalised form. Paths in fault texts are the real system paths (they are
# text only; nothing is read or written).

sim_hang_line() {
    echo "Extracting..."
}

sim_pkg_line() {
    # $1 package name, $2 package file
    if [ "$OP" = upgrade ]; then
        echo "----- Upgrading package: $1 ($2) -----"
    else
        echo "----- Installing package: $1 ($2) -----"
    fi
}

sim_fault_emit() {
    SIM_CODE=
    case $1 in
        exit:0)
            SIM_CODE=0 ;;
        exit:2)
            echo "$0: Conflicting qualifiers, exiting" >&2
            SIM_CODE=2 ;;
        exit:3)
            echo "$0: No options specified, specify --help for help" >&2
            SIM_CODE=3 ;;
        exit:4)
            echo "This kit is intended for RPM systems and cannot install on DPKG systems"
            SIM_CODE=4 ;;
        exit:5)
            echo "Must have root privileges to be able to perform $OP operation" >&2
            SIM_CODE=5 ;;
        exit:6)
            echo "Checking host architecture ..."
            echo "Cannot install $OMS_PKG on x86 platform"
            SIM_CODE=6 ;;
        exit:17)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        17-dependencies)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "error: Failed dependencies:"
            printf '\t%s\n' "libssl.so.1.1()(64bit) is needed by omsagent-0.0.0-sim.x86_64"
            printf '\t%s\n' "libcrypto.so.1.1()(64bit) is needed by omsagent-0.0.0-sim.x86_64"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        17-dpkg-lock)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "dpkg: error: dpkg frontend lock is locked by another process"
            echo "$OMS_PKG package failed to $OP and exited with status 2"
            SIM_CODE=17 ;;
        17-rpm-lock)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "warning: waiting for transaction lock on /var/lib/rpm/.rpm.lock"
            echo "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        17-oom)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "error: unpacking of archive failed on file /opt/microsoft/omsagent/ruby/lib/libruby.so.2.6.0: cpio: write failed - Cannot allocate memory"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        17-triggers)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "Processing triggers for systemd (245.4-4ubuntu3.22) ..."
            echo "Errors were encountered while processing:"
            echo " omsagent"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        exit:18)
            sim_pkg_line omsconfig "$DSC_PKG"
            echo "$DSC_PKG package failed to $OP and exited with status 1"
            SIM_CODE=18 ;;
        exit:19)
            sim_pkg_line omi "$OMI_PKG"
            echo "OMI server failed to start due to OMI installation failed and exited with status 1"
            echo "$OP_CAP failed"
            SIM_CODE=19 ;;
        19-dpkg-lock)
            sim_pkg_line omi "$OMI_PKG"
            echo "dpkg: error: dpkg frontend lock is locked by another process"
            echo "OMI server failed to start due to OMI installation failed and exited with status 1"
            echo "$OP_CAP failed"
            SIM_CODE=19 ;;
        19-rpmdb)
            sim_pkg_line omi "$OMI_PKG"
            echo "error: rpmdb: BDB0113 Thread/process 2862/140090478405696 failed: BDB1507 Thread died in Berkeley DB library"
            echo "error: db5 error(-30973) from dbenv->failchk: BDB0087 DB_RUNRECOVERY: Fatal error, run database recovery"
            echo "error: cannot open Packages index using db5 -  (-30973)"
            echo "error: cannot open Packages database in /var/lib/rpm"
            echo "$OMI_PKG package failed to install and exited with status 1"
            echo "$OP_CAP failed"
            SIM_CODE=19 ;;
        19-dependencies)
            sim_pkg_line omi "$OMI_PKG"
            echo "dpkg: dependency problems prevent configuration of omi:"
            echo " omi depends on libpam-runtime; however:"
            echo "  Package libpam-runtime is not installed."
            echo "$OMI_PKG package failed to install and exited with status 1"
            echo "$OP_CAP failed"
            SIM_CODE=19 ;;
        exit:20)
            sim_pkg_line scx "$SCX_PKG"
            echo "$SCX_PKG package failed to install and exited with status 1"
            echo "$OP_CAP failed"
            SIM_CODE=20 ;;
        exit:21)
            echo "----- Updating bundled packages -----"
            echo "docker provider package failed to $OP and exited with status 1"
            SIM_CODE=21 ;;
        exit:22)
            echo "----- Updating bundled packages -----"
            echo "auoms package failed to $OP and exited with status 1"
            SIM_CODE=22 ;;
        exit:23)
            echo "The omi or scx package is already installed. Please run the" >&2
            echo "installer with --upgrade (instead of --install) to continue." >&2
            SIM_CODE=23 ;;
        exit:30)
            echo "INTERNAL ERROR: Incorrect number of parameters passed to check_version_installable" >&2
            SIM_CODE=30 ;;
        exit:52)
            sim_pkg_line omi "$OMI_PKG"
            echo "OMI server failed to start due to System Issue with daemon control tool  and exited with status 2"
            echo "$OP_CAP failed"
            SIM_CODE=52 ;;
        52-omi-conf)
            sim_pkg_line omi "$OMI_PKG"
            echo "OMI server failed to start due to omi server conf file missing and exited with status 3"
            echo "$OP_CAP failed"
            SIM_CODE=52 ;;
        52-dpkg-lock)
            echo "----- Installing package: omi ($OMI_PKG) -----"
            echo "dpkg: error: dpkg frontend lock is locked by another process"
            echo "$OMI_PKG package failed to install and exited with status 2"
            echo "$OP_CAP failed"
            SIM_CODE=52 ;;
        52-disk)
            echo "----- Installing package: omi ($OMI_PKG) -----"
            echo "$OMI_PKG package failed to install and exited with status 52"
            echo "$OP_CAP failed"
            SIM_CODE=52 ;;
        exit:55 | 55-openssl)
            sim_pkg_line omi "$OMI_PKG"
            echo "Error: This system does not have a supported version of OpenSSL installed."
            echo "This system's OpenSSL version: 3.0.2"
            echo "Supported versions: 1.0.1 onward (1.0.0 was deprecated), 1.1.*"
            SIM_CODE=55 ;;
        55-curl)
            echo "Checking host architecture ..."
            echo "curl was not found; attempting to install curl..."
            echo "E: Unable to locate package curl"
            echo "Error: curl was not installed, installation cannot continue."
            echo "You can run this shell bundle with --force; in this case, we will install omsagent,"
            echo "but omsconfig (DSC configuration) will not be available and will need to be re-installed."
            SIM_CODE=55 ;;
        exit:60 | 60-python)
            echo "Checking host architecture ..."
            echo "Error: Python is not installed on this system, installation cannot continue." >&2
            echo "Please install either the python2 or python3 package." >&2
            echo "You can run this shell bundle with --force; in this case, we will install omsagent," >&2
            echo "but omsconfig (DSC configuration) will not be available and will need to be re-installed." >&2
            SIM_CODE=60 ;;
        60-openssl)
            sim_pkg_line omi "$OMI_PKG"
            echo "Error: This system does not have a supported version of OpenSSL installed."
            echo "This system's OpenSSL version: 1.1.1f"
            echo "Supported versions: 0.9.8*, 1.0.*"
            SIM_CODE=60 ;;
        exit:61)
            echo "Checking host architecture ..."
            echo "Error: Python is not configured or Python does not support ctypes on this system, installation cannot continue." >&2
            echo "Please install the ctypes package (python-ctypes)or upgrade Python to a newer version of python that comes with the ctypes module." >&2
            echo "You can check if the ctypes module is installed by starting python and running the command: 'import ctypes'." >&2
            echo "You can run this shell bundle with --force; in this case, we will install omsagent," >&2
            echo "but omsconfig (DSC configuration) will not be available and will need to be re-installed." >&2
            SIM_CODE=61 ;;
        exit:62)
            echo "Checking host architecture ..."
            echo "tar was not found; attempting to install tar..."
            echo "tar was not installed, installation cannot continue. Please install tar."
            SIM_CODE=62 ;;
        62-extract)
            echo "Extracting..."
            echo "Failed: could not extract the install bundle. Exit code: 127"
            echo "Please make sure that tar is installed."
            SIM_CODE=62 ;;
        exit:63)
            echo "Checking host architecture ..."
            echo "sed was not found; attempting to install sed..."
            echo "sed was not installed, installation cannot continue. Please install sed."
            SIM_CODE=63 ;;
        exit:65)
            echo "Checking host architecture ..."
            echo "gpg is not installed, installation cannot continue."
            SIM_CODE=65 ;;
        exit:66)
            echo "Error: This system does not have a supported package manager" >&2
            echo "Supported Sytems: 'DPKG' & 'RPM'" >&2
            SIM_CODE=66 ;;
        exit:127 | 127)
            echo "$0: 1: getconf: not found" >&2
            SIM_CODE=127 ;;
        permission-denied)
            sim_pkg_line omsagent "$OMS_PKG"
            echo "mkdir: cannot create directory '/opt/microsoft/omsagent/plugin': Permission denied"
            echo "$OMS_PKG package failed to $OP and exited with status 1"
            SIM_CODE=17 ;;
        exit:*)
            # Any other code: what the real bundle does with an unexpected tar status.
            SIM_CODE=${1#exit:}
            case $SIM_CODE in '' | *[!0-9]*) return 1 ;; esac
            [ "$SIM_CODE" -le 255 ] || return 1
            echo "Extracting..."
            echo "Failed: could not extract the install bundle."
            ;;
        *)
            return 1 ;;
    esac
    return 0
}

# --------------------------------- payload -----------------------------------
# The scripts this bundle installs (generated from simulator/src by
# build-bundle.sh). Each function prints one script.

sim_payload_omsadmin() {
cat <<'__OMSSIM_END_OF_omsadmin__'
#!/bin/sh
#
# SIMULATED omsadmin.sh, installed by the simulated OMS shell bundle
# (omsagent-0.0.0-sim.universal.x64.sh). NOT the real Log Analytics agent tool.
# Same options and exit codes as the real /opt/microsoft/omsagent/bin/omsadmin.sh
# (legacy handler spec §10.2); every system path lives under the root baked in
# below at install time. No network access: onboarding always "succeeds" unless
# a fault is injected (see simulator/README.md).
#
# GENERATED FILE: edit simulator/src/omsadmin.sh and run simulator/build-bundle.sh.
# POSIX sh only.

OMS_SIM_BAKED_ROOT=''  # @@OMSSIM_BAKED_ROOT@@

umask 022

# ---------------------------------------------------------------------------
# omssim common library.
#
# This file is not run on its own: simulator/build-bundle.sh pastes it into the
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
    SIM_FAULT=
    [ -n "${OMS_SIM_INTERNAL-}" ] && return 0
    sim_ff=$ROOT/.omssim/faults/$1
    [ -f "$sim_ff" ] || return 0

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

sim_finish() {
    sim_leave_failed_onboarding
    exit "$1"
}

# The real onboard() runs create_workspace_directories before its HTTP request
# and save_config (omsadmin.conf) only after a 200; on a proxy, 403, non-200 or
# curl failure it removes the certificates (cleanup_certs) and returns, so the
# workspace's directories stay behind without conf/omsadmin.conf
# (installer/scripts/omsadmin.sh: onboard(), cleanup_certs()). Faults for those
# failures leave the same traces, like a wrong key or an unreachable service.
sim_leave_failed_onboarding() {
    [ "${SIM_FAULT_POINT-}" = omsadmin-onboard ] || return 0
    case ${SIM_FAULT-} in
        exit:4 | 4-connect | exit:5 | 5-* | exit:6 | 6-* | exit:7 | exit:8) ;;
        *) return 0 ;;
    esac
    is_guid "$WORKSPACE_ID" || return 0
    create_workspace_directories "$WORKSPACE_ID"
    rm -f "$FILE_CRT" "$FILE_KEY"
}

if ! sim_root_installed "$OMS_SIM_BAKED_ROOT"; then
    echo "omsadmin.sh (SIMULATED): refusing to run: $SIM_ROOT_ERROR" >&2
    exit 30
fi
[ -n "${OMS_SIM_INTERNAL-}" ] || sim_log_call omsadmin "$@"

VAR_DIR=$ROOT/var/opt/microsoft/omsagent
ETC_DIR=$ROOT/etc/opt/microsoft/omsagent

DF_TMP_DIR=$VAR_DIR/tmp
DF_RUN_DIR=$VAR_DIR/run
DF_STATE_DIR=$VAR_DIR/state
DF_LOG_DIR=$VAR_DIR/log
DF_CERT_DIR=$ETC_DIR/certs
DF_CONF_DIR=$ETC_DIR/conf

FILE_ONBOARD=$ROOT/etc/omsagent-onboard.conf
CONF_PROXY=$ETC_DIR/proxy.conf
SERVICE_CONTROL=$ROOT/opt/microsoft/omsagent/bin/service_control
METACONFIG_PY=$ROOT/opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py
OMI_CONF_FILE=$ROOT/etc/opt/omi/conf/omiserver.conf
SIM_STATE=$ROOT/.omssim/state

URL_TLD=opinsights.azure.com
WORKSPACE_ID=""
SHARED_KEY=""
AGENT_GUID=""
LOG_FACILITY=local0
CERTIFICATE_UPDATE_ENDPOINT=""
DSC_ENDPOINT=""
VERBOSE=0
AZURE_RESOURCE_ID=""
OMSCLOUD_ID=""
UUID=""
MULTI_HOMING_MARKER=
PROXY=
PROXY_HOST=
PROXY_USER=

GUID_REGEX='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
NON_OMS_WS="scom LAD"

INVALID_OPTION_PROVIDED=2
INVALID_CONFIG_PROVIDED=3
INVALID_PROXY=4
ERROR_METACONFIG_PY_NOT_PRESENT=34

# ------------------------------ fault outputs --------------------------------

sim_hang_line() {
    echo "Configure syslog..."
}

sim_fault_emit() {
    SIM_CODE=
    case $1 in
        exit:0)
            SIM_CODE=0 ;;
        0-already-onboarded)
            echo "Workspace $WORKSPACE_ID already onboarded and agent is running."
            SIM_CODE=0 ;;
        exit:1)
            printf 'error\t%s\n' "This script must be run as root or as the omsagent user."
            SIM_CODE=1 ;;
        exit:2)
            printf 'error\t%s\n' "Parsing error: 'unexpected' is unparsed"
            usage
            SIM_CODE=2 ;;
        exit:3)
            printf 'error\t%s\n' "Missing Workspace ID or Shared Key information for onboarding"
            SIM_CODE=3 ;;
        3-guid)
            printf 'error\t%s\n' "The Workspace ID is not valid"
            SIM_CODE=3 ;;
        exit:4)
            printf 'error\t%s\n' "Proxy could not be resolved during the onboarding request. Verify the proxy."
            SIM_CODE=4 ;;
        4-connect)
            printf 'error\t%s\n' "Error connecting to OMS service through proxy. Verify the proxy."
            SIM_CODE=4 ;;
        exit:5 | 5-key)
            printf 'error\t%s\n' "Error onboarding. HTTP code 403, Reason: InvalidWorkspaceKey. Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        5-missing-header)
            printf 'error\t%s\n' "Error onboarding. HTTP code 403, Reason: MissingHeader. Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        5-clock)
            printf 'error\t%s\n' "Error onboarding. HTTP code 403, Reason: . Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        exit:6)
            printf 'error\t%s\n' "Error onboarding. HTTP code 500"
            SIM_CODE=6 ;;
        6-503)
            printf 'error\t%s\n' "Error onboarding. HTTP code 503"
            SIM_CODE=6 ;;
        exit:7)
            printf 'error\t%s\n' "Error resolving host during the onboarding request. Check the correctness of the workspace ID and the internet connectivity, or add a proxy."
            SIM_CODE=7 ;;
        exit:8)
            printf 'error\t%s\n' "Error during the onboarding request: curl returned 35. Check the internet connectivity and the correctness of the workspace ID and shared key or run omsadmin.sh with '-v'"
            SIM_CODE=8 ;;
        exit:30)
            printf 'error\t%s\n' "Error generating certs: missing config"
            SIM_CODE=30 ;;
        exit:31)
            printf 'error\t%s\n' "Error generating agent GUID"
            SIM_CODE=31 ;;
        exit:32)
            printf 'error\t%s\n' "Error generating certs"
            SIM_CODE=32 ;;
        exit:33)
            printf 'info\t%s\n' "Retrying configuring omsconfig by calling '/opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py' with 'sudo'"
            printf 'error\t%s\n' "Error configuring omsconfig. Error: 1"
            SIM_CODE=33 ;;
        33-permission)
            echo "sudo: unable to execute /opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py: Permission denied"
            printf 'error\t%s\n' "Error configuring omsconfig. Error: 1"
            SIM_CODE=33 ;;
        exit:34)
            printf 'error\t%s\n' "MetaConfig generation script not available at /opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py"
            SIM_CODE=34 ;;
        exit:60)
            printf 'error\t%s\n' "Python is not installed on this system, please install either the python2 or python3 package."
            SIM_CODE=60 ;;
        exit:*)
            # Codes the real omsadmin.sh never uses: exit silently with it.
            SIM_CODE=${1#exit:}
            case $SIM_CODE in '' | *[!0-9]*) return 1 ;; esac
            [ "$SIM_CODE" -le 255 ] || return 1
            ;;
        *)
            return 1 ;;
    esac
    return 0
}

# -------------------------------- helpers ------------------------------------

usage() {
    sim_u_base=$(basename "$0")
    echo
    echo "Maintenance tool for OMS:"
    echo "Onboarding:"
    echo "$sim_u_base -w <workspace id> -s <shared key> [-d <top level domain>]"
    echo
    echo "List Workspaces:"
    echo "$sim_u_base -l"
    echo
    echo "Remove Workspace:"
    echo "$sim_u_base -x <workspace id>"
    echo
    echo "Remove All Workspaces:"
    echo "$sim_u_base -X"
    echo
    echo "Update workspace configuration and folder structure to multi-homing schema:"
    echo "$sim_u_base -U"
    echo
    echo "Onboard the workspace with a multi-homing marker. The workspace will be regarded as secondary."
    echo "$sim_u_base -m <multi-homing marker>"
    echo
    echo "Define proxy settings ('-u' will prompt for password):"
    echo "$sim_u_base [-u user] -p host[:port]"
    echo
    echo "Azure resource ID:"
    echo "$sim_u_base -a <Azure resource ID>"
    echo
    echo "Detect if omiserver is listening to SCOM port:"
    echo "$sim_u_base -o"
}

log_info() {
    printf 'info\t%s\n' "$1"
}

log_warning() {
    printf 'warning\t%s\n' "$1"
}

log_error() {
    printf 'error\t%s\n' "$1"
}

clean_exit() {
    exit "$1"
}

is_guid() {
    printf '%s\n' "$1" | grep -Eq "$GUID_REGEX"
}

list_guid_dirs() {
    [ -d "$ETC_DIR" ] || return 0
    ls -1 "$ETC_DIR" | grep -E "$GUID_REGEX"
}

# Like the real script: calls the installed service_control (not recorded in
# calls.log and never subject to injected faults).
service_control() {
    OMS_SIM_INTERNAL=1 "$SERVICE_CONTROL" "$@"
}

setup_workspace_variables() {
    VAR_DIR_WS=$VAR_DIR/$1
    ETC_DIR_WS=$ETC_DIR/$1
    TMP_DIR=$VAR_DIR_WS/tmp
    STATE_DIR=$VAR_DIR_WS/state
    RUN_DIR=$VAR_DIR_WS/run
    LOG_DIR=$VAR_DIR_WS/log
    CERT_DIR=$ETC_DIR_WS/certs
    CONF_DIR=$ETC_DIR_WS/conf
    CONF_OMSADMIN=$CONF_DIR/omsadmin.conf
    FILE_KEY=$CERT_DIR/oms.key
    FILE_CRT=$CERT_DIR/oms.crt
}

# Like the real chown_omsagent: everything omsadmin.sh creates for a workspace
# belongs to omsagent:omiusers (installer/scripts/omsadmin.sh: chown_omsagent in
# make_dir, save_config, create_proxy_conf, copy_omsagent_conf).
chown_omsagent() {
    sim_chown_agent "$@"
}

make_dir() {
    if [ ! -d "$1" ]; then
        mkdir -p -m 750 "$1"
    else
        [ "$VERBOSE" -eq 1 ] && echo "Directory $1 already exists."
        chmod 750 "$1"
    fi
    chown_omsagent "$1"
}

create_workspace_directories() {
    setup_workspace_variables "$1"
    make_dir "$VAR_DIR_WS"
    make_dir "$ETC_DIR_WS"
    make_dir "$TMP_DIR"
    make_dir "$STATE_DIR"
    make_dir "$RUN_DIR"
    make_dir "$LOG_DIR"
    make_dir "$CERT_DIR"
    make_dir "$CONF_DIR"
    chmod 700 "$CERT_DIR"
}

create_proxy_conf() {
    # Never prints the proxy (it may carry a password).
    mkdir -p "$ETC_DIR"
    : > "$CONF_PROXY"
    chown_omsagent "$CONF_PROXY"
    chmod 600 "$CONF_PROXY"
    # Like the real create_proxy_conf (installer/scripts/omsadmin.sh:
    # echo -n $conf_proxy_content > $CONF_PROXY): unquoted, so the value is
    # split, globbed, and under dash (#!/bin/sh on Debian/Ubuntu) its backslash
    # escapes are interpreted. The handler refuses such proxies for that reason.
    # shellcheck disable=SC2086
    echo -n $1 > "$CONF_PROXY"
    log_info "Created proxy configuration: $CONF_PROXY"
}

set_proxy_setting() {
    if [ -n "$PROXY" ]; then
        PROXY_SETTING="--proxy (from $FILE_ONBOARD)"
        create_proxy_conf "$PROXY"
        return
    fi
    if [ -r "$CONF_PROXY" ] && [ -s "$CONF_PROXY" ]; then
        PROXY_SETTING="--proxy (from $CONF_PROXY)"
        log_info "Using proxy settings from '$CONF_PROXY'"
    fi
}

save_config() {
    {
        echo "WORKSPACE_ID=$WORKSPACE_ID"
        echo "AGENT_GUID=$AGENT_GUID"
        echo "LOG_FACILITY=$LOG_FACILITY"
        echo "CERTIFICATE_UPDATE_ENDPOINT=$CERTIFICATE_UPDATE_ENDPOINT"
        echo "URL_TLD=$URL_TLD"
        echo "DSC_ENDPOINT=$DSC_ENDPOINT"
        echo "OMS_ENDPOINT=https://$WORKSPACE_ID.ods.$URL_TLD/OperationalData.svc/PostJsonDataItems"
        echo "AZURE_RESOURCE_ID=$AZURE_RESOURCE_ID"
        echo "OMSCLOUD_ID=$OMSCLOUD_ID"
        echo "UUID=$UUID"
    } > "$CONF_OMSADMIN"
    chown_omsagent "$CONF_OMSADMIN"
}

update_azure_resource_id() {
    # Like the real script: edits the *primary* workspace's omsadmin.conf (through
    # the conf symlink), and sed complains when there is none yet.
    sim_ar_conf=$DF_CONF_DIR/omsadmin.conf
    if [ -f "$sim_ar_conf" ]; then
        SIM_AR_LINE="AZURE_RESOURCE_ID=$AZURE_RESOURCE_ID" awk '
            /^AZURE_RESOURCE_ID=/ { print ENVIRON["SIM_AR_LINE"]; next } { print }' "$sim_ar_conf" > "$sim_ar_conf.tmp.$$" &&
            cat "$sim_ar_conf.tmp.$$" > "$sim_ar_conf" && rm -f "$sim_ar_conf.tmp.$$"
    else
        echo "sed: can't read $sim_ar_conf: No such file or directory" >&2
    fi
    echo "Azure Resource ID updated."
}

link_dir() {
    if [ -d "$1" ] && [ ! -h "$1" ]; then
        rm -r "$1"
    fi
    rm -f "$1"
    ln -s "$2" "$1"
}

update_symlinks() {
    link_dir "$DF_TMP_DIR" "$TMP_DIR"
    link_dir "$DF_RUN_DIR" "$RUN_DIR"
    link_dir "$DF_STATE_DIR" "$STATE_DIR"
    link_dir "$DF_LOG_DIR" "$LOG_DIR"
    link_dir "$DF_CERT_DIR" "$CERT_DIR"
    link_dir "$DF_CONF_DIR" "$CONF_DIR"
}

configure_logrotate() {
    echo "Configure log rotate for workspace $WORKSPACE_ID..."
    if [ ! -f "$ROOT/etc/logrotate.d/omsagent-$WORKSPACE_ID" ]; then
        mkdir -p "$ROOT/etc/logrotate.d"
        echo "$VAR_DIR/$WORKSPACE_ID/log/omsagent.log { rotate 5 size 50M missingok notifempty compress }" \
            > "$ROOT/etc/logrotate.d/omsagent-$WORKSPACE_ID"
    fi
}

is_scom_port_open() {
    [ -r "$OMI_CONF_FILE" ] || return 1
    grep -E '^[[:space:]]*httpsport[[:space:]]*=' "$OMI_CONF_FILE" | head -n 1 |
        sed 's/[=,]/ /g' | tr -s ' \t' '\n\n' | grep -qx 1270 || return 1
    echo "Port 1270 already open"
    return 0
}

open_scom_port() {
    [ -f "$OMI_CONF_FILE" ] || return 0
    if grep -Eq '^[[:space:]]*httpsport[[:space:]]*=' "$OMI_CONF_FILE"; then
        sed 's/^\([[:space:]]*httpsport[[:space:]]*=.*\)$/\1,1270/' "$OMI_CONF_FILE" > "$OMI_CONF_FILE.tmp.$$"
    else
        { cat "$OMI_CONF_FILE"; echo "httpsport=1270"; } > "$OMI_CONF_FILE.tmp.$$"
    fi
    mv -f "$OMI_CONF_FILE.tmp.$$" "$OMI_CONF_FILE"
}

onboard_scom() {
    echo "Onboarding SCOM"
    create_workspace_directories scom
    if [ ! -f "$CERT_DIR/scom-cert.pem" ] || [ ! -f "$CERT_DIR/scom-key.pem" ]; then
        echo "Generating SCOM certificates..."
        echo "SIMULATED SCOM CERTIFICATE" > "$CERT_DIR/scom-cert.pem"
        echo "SIMULATED SCOM KEY" > "$CERT_DIR/scom-key.pem"
    fi
    : > "$CONF_DIR/omsagent.conf"
    make_dir "$CONF_DIR/omsagent.d"
    echo "SCOM Workspace" > "$CONF_DIR/.multihoming_marker"
    configure_logrotate
    if ! is_scom_port_open >/dev/null; then
        echo "Opening port 1270"
        open_scom_port
    fi
    return 0
}

onboard_lad() {
    echo "Onboarding LAD"
    create_workspace_directories LAD
    echo "@include omsagent.d/*" > "$CONF_DIR/omsagent.conf"
    make_dir "$CONF_DIR/omsagent.d"
    echo "LAD Workspace" > "$CONF_DIR/.multihoming_marker"
    save_config
    configure_logrotate
    return 0
}

write_certs() {
    {
        echo "-----BEGIN CERTIFICATE-----"
        echo "SIMULATED OMS AGENT CERTIFICATE (not a real certificate)"
        echo "CN=$AGENT_GUID, OU=Linux Monitoring Agent, O=Microsoft, workspace $WORKSPACE_ID"
        echo "-----END CERTIFICATE-----"
    } > "$FILE_CRT"
    {
        echo "-----BEGIN PRIVATE KEY-----"
        echo "SIMULATED OMS AGENT PRIVATE KEY (not a real key)"
        echo "-----END PRIVATE KEY-----"
    } > "$FILE_KEY"
    # agent_maintenance_script.rb generate_certs: both 0640, owned by omsagent:omiusers.
    chmod 640 "$FILE_KEY" "$FILE_CRT"
    chown_omsagent "$FILE_KEY" "$FILE_CRT"
}

record_key_hash() {
    # Tests assert the right key arrived by its hash; the key itself is never stored.
    mkdir -p "$SIM_STATE"
    printf '%s' "$SHARED_KEY" | sim_sha256 > "$SIM_STATE/$1.tmp.$$" && mv -f "$SIM_STATE/$1.tmp.$$" "$SIM_STATE/$1"
}

onboard() {
    if [ "$VERBOSE" -eq 1 ]; then
        # The real script shows the first 4 characters of the key; the simulator none.
        echo "Workspace ID:      $WORKSPACE_ID"
        echo "Shared key:        ********"
        echo "Top Level Domain:  $URL_TLD"
    fi

    if [ "$WORKSPACE_ID" = "scom" ]; then
        onboard_scom
        clean_exit $?
    fi
    if [ "$WORKSPACE_ID" = "LAD" ]; then
        onboard_lad
        clean_exit $?
    fi

    if [ -z "$WORKSPACE_ID" ] || [ -z "$SHARED_KEY" ]; then
        log_error "Missing Workspace ID or Shared Key information for onboarding"
        clean_exit $INVALID_CONFIG_PROVIDED
    fi
    if ! is_guid "$WORKSPACE_ID"; then
        log_error "The Workspace ID is not valid"
        clean_exit $INVALID_CONFIG_PROVIDED
    fi

    record_key_hash last-key.sha256

    if [ -n "$AZURE_RESOURCE_ID" ]; then
        update_azure_resource_id
    fi
    setup_workspace_variables "$WORKSPACE_ID"

    # Real behaviour: "running" per service_control is-running, which also
    # answers 1 when the workspace has no omsadmin.conf (OMS-Agent-for-Linux#908),
    # so onboarding a new workspace while another one is primary is skipped.
    # Deviation: with -m the simulator only skips a workspace that really has
    # configuration, so that multi-homed machines can be set up in tests.
    service_control is-running "$WORKSPACE_ID" >/dev/null 2>&1
    if [ $? -eq 1 ] && { [ -z "$MULTI_HOMING_MARKER" ] || [ -f "$CONF_OMSADMIN" ]; }; then
        echo "Workspace $WORKSPACE_ID already onboarded and agent is running."
        if [ -z "$MULTI_HOMING_MARKER" ] && [ ! -h "$DF_CONF_DIR" ]; then
            echo "Symbolic links have not been created; re-onboarding to create them"
        else
            return 0
        fi
    fi

    create_workspace_directories "$WORKSPACE_ID"

    sim_ob_conf=$(cat "$CONF_OMSADMIN" 2>/dev/null)
    if [ -f "$FILE_KEY" ] && [ -f "$FILE_CRT" ] && [ -f "$CONF_OMSADMIN" ] && [ -n "$sim_ob_conf" ]; then
        AGENT_GUID=$(grep '^AGENT_GUID=' "$CONF_OMSADMIN" | head -n 1 | cut -d= -f2)
        log_info "Reusing previous agent GUID $AGENT_GUID"
    else
        AGENT_GUID=$(sim_new_guid)
        log_info "Generating certificate ..."
        write_certs
    fi
    log_info "Agent GUID is $AGENT_GUID"
    if [ "$VERBOSE" = "1" ]; then
        log_info "Private Key stored in:   $FILE_KEY"
        log_info "Public Key stored in:    $FILE_CRT"
    fi

    set_proxy_setting
    CERTIFICATE_UPDATE_ENDPOINT="https://$WORKSPACE_ID.oms.$URL_TLD/ConfigurationService.Svc/RenewCertificate"
    DSC_ENDPOINT="https://$WORKSPACE_ID.agentsvc.$URL_TLD/Accounts/$WORKSPACE_ID/Nodes(AgentId='$AGENT_GUID')"
    record_key_hash onboarded-key.sha256
    log_info "Onboarding success"

    save_config
    echo "@include omsagent.d/*" > "$CONF_DIR/omsagent.conf"
    make_dir "$CONF_DIR/omsagent.d"
    chown_omsagent "$CONF_DIR"/*

    if [ -z "$MULTI_HOMING_MARKER" ]; then
        update_symlinks
    else
        echo "$MULTI_HOMING_MARKER" > "$CONF_DIR/.multihoming_marker"
    fi

    echo "Configure syslog..."
    echo "Configure heartbeat monitoring agent..."
    configure_logrotate

    service_control start "$WORKSPACE_ID"

    if [ -z "$MULTI_HOMING_MARKER" ]; then
        if [ ! -f "$ROOT/etc/cron.d/OMSConsistencyInvoker" ]; then
            mkdir -p "$ROOT/etc/cron.d"
            echo "*/15 * * * * omsagent /opt/omi/bin/OMSConsistencyInvoker >/dev/null 2>&1" > "$ROOT/etc/cron.d/OMSConsistencyInvoker"
        fi
        if [ ! -f "$METACONFIG_PY" ]; then
            log_error "MetaConfig generation script not available at $METACONFIG_PY"
            return $ERROR_METACONFIG_PY_NOT_PRESENT
        fi
        log_info "Configured omsconfig"
    fi
    return 0
}

reset_default_workspace() {
    if [ -h "$DF_CONF_DIR" ] && [ ! -d "$DF_CONF_DIR" ]; then
        rm -f "$DF_TMP_DIR" "$DF_RUN_DIR" "$DF_STATE_DIR" "$DF_LOG_DIR" "$DF_CERT_DIR" "$DF_CONF_DIR"
    fi
}

remove_workspace() {
    setup_workspace_variables "$WORKSPACE_ID"
    if [ -d "$CONF_DIR" ]; then
        log_info "Disable workspace: $WORKSPACE_ID"
        service_control disable "$WORKSPACE_ID"
    else
        log_error "Workspace $WORKSPACE_ID doesn't exist"
    fi
    log_info "Cleanup the folders"
    rm -rf "$VAR_DIR_WS" "$ETC_DIR_WS"
    rm -f "$ROOT/etc/logrotate.d/omsagent-$WORKSPACE_ID" "$SIM_STATE/service/$WORKSPACE_ID"
    reset_default_workspace
}

remove_all() {
    for sim_ra_ws in $(list_guid_dirs); do
        WORKSPACE_ID=$sim_ra_ws
        remove_workspace
    done
    for sim_ra_ws in $NON_OMS_WS; do
        if [ -d "$ETC_DIR/$sim_ra_ws" ]; then
            WORKSPACE_ID=$sim_ra_ws
            remove_workspace
        fi
    done
}

show_workspace_status() {
    # $1 conf dir, $2 workspace id, $3 1 if primary
    service_control is-running "$2"
    if [ $? -eq 1 ]; then
        sim_sw_status='Onboarded(OMSAgent Running)'
    elif [ -f "$1/.service_registered" ]; then
        sim_sw_status='Warning(OMSAgent Registered, Not Running)'
    elif [ -f "$1/omsadmin.conf" ]; then
        sim_sw_status='Saved(OMSAgent Not Registered, Workspace Configuration Saved)'
    else
        sim_sw_status='Failure(Agent Not Onboarded, No Workspace Configuration Present)'
    fi
    sim_sw_marker=
    if [ -f "$1/.multihoming_marker" ]; then
        sim_sw_marker="($(cat "$1/.multihoming_marker"))"
    fi
    if [ "$3" -eq 1 ]; then
        echo "Primary Workspace: $2    Status: $sim_sw_status"
    else
        echo "Workspace$sim_sw_marker: $2    Status: $sim_sw_status"
    fi
}

list_workspaces() {
    sim_lw_found=0
    if [ -h "$DF_CONF_DIR" ]; then
        sim_lw_primary=
        if [ -f "$DF_CONF_DIR/omsadmin.conf" ]; then
            sim_lw_primary=$(grep '^WORKSPACE_ID=' "$DF_CONF_DIR/omsadmin.conf" | head -n 1 | cut -d= -f2)
        fi
        if [ -n "$sim_lw_primary" ]; then
            sim_lw_found=1
            show_workspace_status "$DF_CONF_DIR" "$sim_lw_primary" 1
        fi
        for sim_lw_ws in $(list_guid_dirs); do
            if [ "$sim_lw_ws" != "$sim_lw_primary" ]; then
                sim_lw_found=1
                show_workspace_status "$ETC_DIR/$sim_lw_ws/conf" "$sim_lw_ws" 0
            fi
        done
    elif [ -d "$DF_CONF_DIR" ]; then
        sim_lw_ws=
        if [ -f "$DF_CONF_DIR/omsadmin.conf" ]; then
            sim_lw_ws=$(grep '^WORKSPACE_ID=' "$DF_CONF_DIR/omsadmin.conf" | head -n 1 | cut -d= -f2)
        fi
        if [ -n "$sim_lw_ws" ]; then
            sim_lw_found=1
            show_workspace_status "$DF_CONF_DIR" "$sim_lw_ws" 1
        fi
    else
        for sim_lw_ws in $(list_guid_dirs); do
            sim_lw_found=1
            show_workspace_status "$ETC_DIR/$sim_lw_ws/conf" "$sim_lw_ws" 0
        done
    fi
    if [ -d "$ETC_DIR/scom" ]; then
        sim_lw_found=1
        show_workspace_status "$ETC_DIR/scom/conf" scom 0
    fi
    if [ "$sim_lw_found" -eq 0 ]; then
        echo "No Workspace"
    fi
    return 0
}

parse_args() {
    OPTIND=1
    while getopts "h?s:w:d:vp:u:a:lx:XUm:oR" opt; do
        case "$opt" in
            h | \?)
                usage
                clean_exit 0 ;;
            s) ONBOARDING=1; SHARED_KEY=$OPTARG ;;
            w) ONBOARDING=1; WORKSPACE_ID=$OPTARG ;;
            d) ONBOARDING=1; URL_TLD=$OPTARG ;;
            v) VERBOSE=1 ;;
            p) PROXY_HOST=$OPTARG ;;
            u) PROXY_USER=$OPTARG ;;
            a) AZURE_RESOURCE_ID=$OPTARG ;;
            l) LIST_WORKSPACES=1 ;;
            x) REMOVE=1; WORKSPACE_ID=$OPTARG ;;
            X) REMOVE_ALL=1 ;;
            U) UPDATE_WORKSPACES=1 ;;
            m) MULTI_HOMING_MARKER=$OPTARG ;;
            o) DETECT_SCOM=1 ;;
            R) RECONSTRUCT_WORKSPACE_STATE=1 ;;
        esac
    done
    shift $((OPTIND - 1))

    if [ "$* " != " " ]; then
        log_error "Parsing error: '$*' is unparsed"
        usage
        clean_exit $INVALID_OPTION_PROVIDED
    fi
    if [ -n "$PROXY_USER" ] && [ -z "$PROXY_HOST" ]; then
        log_error "Cannot specify the proxy user without specifying the proxy host"
        usage
        clean_exit $INVALID_PROXY
    fi
}

# ---------------------------------- main -------------------------------------

ONBOARDING=
ONBOARD_FROM_FILE=
LIST_WORKSPACES=
REMOVE=
REMOVE_ALL=
UPDATE_WORKSPACES=
DETECT_SCOM=
RECONSTRUCT_WORKSPACE_STATE=

# Like the real script (main $@ / parse_args $@): arguments are word-split,
# so an argument containing spaces becomes several (and usually exit 2).
set -f
# shellcheck disable=SC2068
set -- $@
set +f
parse_args "$@"

if [ $# -eq 0 ] || { [ $# -eq 1 ] && [ "$VERBOSE" = "1" ]; }; then
    if [ -r "$FILE_ONBOARD" ]; then
        log_info "Reading onboarding params from: $FILE_ONBOARD"
        . "$FILE_ONBOARD"
        ONBOARDING=1
        ONBOARD_FROM_FILE=1
    else
        usage
        clean_exit $INVALID_OPTION_PROVIDED
    fi
fi

# One fault point per invocation, for the first operation the real script runs.
if [ "$DETECT_SCOM" = 1 ]; then
    sim_fault_check omsadmin-scom
elif [ "$ONBOARDING" = 1 ]; then
    SIM_FAULT_POINT=omsadmin-onboard
    sim_fault_check omsadmin-onboard
elif [ "$LIST_WORKSPACES" = 1 ]; then
    sim_fault_check omsadmin-list
elif [ "$REMOVE" = 1 ] || [ "$REMOVE_ALL" = 1 ]; then
    sim_fault_check omsadmin-remove
fi

if [ -n "$PROXY_HOST" ]; then
    if [ -n "$PROXY_USER" ]; then
        # The real script prompts for the password; the simulator reads one line from stdin.
        printf 'Proxy password for %s: ' "$PROXY_USER"
        IFS= read -r PROXY_PASS || PROXY_PASS=
        echo
        create_proxy_conf "$PROXY_USER:$PROXY_PASS@$PROXY_HOST"
    else
        create_proxy_conf "$PROXY_HOST"
    fi
fi

if [ "$DETECT_SCOM" = "1" ]; then
    is_scom_port_open >/dev/null 2>&1
    clean_exit $?
fi

if [ "$ONBOARDING" = "1" ]; then
    onboard || clean_exit $?
fi

if [ "$LIST_WORKSPACES" = "1" ]; then
    list_workspaces || clean_exit 1
fi

if [ "$REMOVE" = "1" ]; then
    remove_workspace || clean_exit 1
fi

if [ "$REMOVE_ALL" = "1" ]; then
    remove_all || clean_exit 1
fi

# Like the real script: after a successful run from the file, remove it so it
# is not accidentally used again.
if [ "$ONBOARD_FROM_FILE" = "1" ]; then
    rm -f "$FILE_ONBOARD"
fi

clean_exit 0
__OMSSIM_END_OF_omsadmin__
}

sim_payload_service_control() {
cat <<'__OMSSIM_END_OF_service_control__'
#!/bin/sh
#
# SIMULATED service_control, installed by the simulated OMS shell bundle
# (omsagent-0.0.0-sim.universal.x64.sh). NOT the real Log Analytics agent tool.
# Same commands and exit codes as the real
# /opt/microsoft/omsagent/bin/service_control (legacy handler spec §10.3).
# There is no daemon: a workspace's agent state is the word running, stopped or
# disabled in $ROOT/.omssim/state/service/<workspace>.
#
# GENERATED FILE: edit simulator/src/service_control and run simulator/build-bundle.sh.
# POSIX sh only.

OMS_SIM_BAKED_ROOT=''  # @@OMSSIM_BAKED_ROOT@@

umask 022

# ---------------------------------------------------------------------------
# omssim common library.
#
# This file is not run on its own: simulator/build-bundle.sh pastes it into the
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
    SIM_FAULT=
    [ -n "${OMS_SIM_INTERNAL-}" ] && return 0
    sim_ff=$ROOT/.omssim/faults/$1
    [ -f "$sim_ff" ] || return 0

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

sim_finish() {
    exit "$1"
}

if ! sim_root_installed "$OMS_SIM_BAKED_ROOT"; then
    echo "service_control (SIMULATED): refusing to run: $SIM_ROOT_ERROR" >&2
    exit 30
fi
[ -n "${OMS_SIM_INTERNAL-}" ] || sim_log_call service_control "$@"

ETC_DIR=$ROOT/etc/opt/microsoft/omsagent
VAR_DIR=$ROOT/var/opt/microsoft/omsagent
SVC_STATE_DIR=$ROOT/.omssim/state/service
WORKSPACE_REGEX='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
NON_OMS_WS="scom"

INVALID_OPTION_PROVIDED=72
NO_OPTION_PROVIDED=75

SC_CMD=${1-}
SC_WS=${2-}

procedure_name() {
    case $1 in
        disable) echo disable_omsagent_service ;;
        enable) echo enable_omsagent_service ;;
        reload | restart) echo restart_omsagent ;;
        start) echo start_omsagent ;;
        stop) echo stop_omsagent ;;
        *) echo "${1}_omsagent" ;;
    esac
}

notification_exit() {
    echo "service_control exiting with code $1"
    exit "$1"
}

# ------------------------------ fault outputs --------------------------------
# <ws> in texts = the workspace argument, or "all" when none was given.

sim_hang_line() {
    echo "INFO:  Configuring OMS agent service ${SC_WS:-all} ..."
}

sim_fault_emit() {
    SIM_CODE=
    sim_fe_ws=${SC_WS:-all}
    sim_fe_proc=$(procedure_name "$SC_CMD")
    case $1 in
        exit:0)
            SIM_CODE=0 ;;
        exit:21)
            echo "ERROR:  OMS Admin configuration file /etc/opt/microsoft/omsagent/$sim_fe_ws/conf/omsadmin.conf NOT Found!" >&2
            SIM_CODE=21 ;;
        exit:22)
            echo "rm: cannot remove '/var/opt/microsoft/omsagent/$sim_fe_ws/run/omsagent.pid': Operation not permitted" >&2
            echo "ERROR:  $sim_fe_proc failed with result '22' on workspace $sim_fe_ws." >&2
            SIM_CODE=22 ;;
        exit:30)
            echo "INTERNAL ERROR:  service_control notification_exit routine NOT USED Correctly."
            echo "Exiting with code 30"
            SIM_CODE=30 ;;
        exit:67)
            echo "ERROR:  Unrecognized service controller to $SC_CMD OMS Agent service" >&2
            echo "service_control exiting with code 67"
            SIM_CODE=67 ;;
        exit:68)
            echo "ERROR:  'Q' is not a known ps flag."
            echo "service_control exiting with code 68"
            SIM_CODE=68 ;;
        exit:69)
            echo "Defunct State Seen in omsagent process."
            echo "ERROR:  $sim_fe_proc failed with result '69' on workspace $sim_fe_ws." >&2
            SIM_CODE=69 ;;
        exit:72)
            echo "Unknown parameter : '$SC_CMD'" >&2
            print_usage
            echo "service_control exiting with code 72"
            SIM_CODE=72 ;;
        exit:75)
            echo "Unknown parameter : ''" >&2
            print_usage
            echo "service_control exiting with code 75"
            SIM_CODE=75 ;;
        exit:77)
            echo "Must have root privileges for this operation" >&2
            echo "service_control exiting with code 77"
            SIM_CODE=77 ;;
        permission-denied)
            echo "rm: cannot remove '/etc/init.d/omsagent-$sim_fe_ws': Permission denied" >&2
            echo "ERROR:  $sim_fe_proc failed with result '1' on workspace $sim_fe_ws." >&2
            SIM_CODE=1 ;;
        exit:*)
            # Any other code: a failure count (one failure line per failed workspace).
            # For is-running, exit:0 / exit:1 are the plain answers (1 = running).
            SIM_CODE=${1#exit:}
            case $SIM_CODE in '' | *[!0-9]*) return 1 ;; esac
            [ "$SIM_CODE" -le 255 ] || return 1
            if [ "$SC_CMD" != is-running ]; then
                sim_fe_i=0
                while [ "$sim_fe_i" -lt "$SIM_CODE" ]; do
                    echo "ERROR:  $sim_fe_proc failed with result '1' on workspace $sim_fe_ws." >&2
                    sim_fe_i=$((sim_fe_i + 1))
                done
            fi ;;
        *)
            return 1 ;;
    esac
    return 0
}

# -------------------------------- helpers ------------------------------------

print_usage() {
    cat <<EOUSAGE
    USAGE:  $0 -h
    USAGE:  $0 help
    USAGE:  $0 <script command> [workspace id]
    Where script commands are any of the following:
        -h or help
        disable:         To disable the OMS service, leaving it installed.
        enable:         To enable the OMS service after being disabled.
        find-systemd-dir To establish directory of your OS's systemd, if it has one.
        is-running:         Boolean whether or not omsagent is running.  This is a 1
                         for true, and 0 for false, unlike script booleans (Legacy).
        reload:           Reload agent configuration (at this time same as restart below)
        restart:         Restart the OMS service via the service control manager
        start:           Start the OMS service via the service control manager
        stop:               Stop the OMS service via the service control manager
EOUSAGE
}

# setup_variables WS: like the real script, which sources the workspace's
# omsadmin.conf with bash: a missing file prints bash's error and gives status 1.
setup_variables() {
    if [ -z "$1" ]; then
        SV_CONF=$ETC_DIR/conf/omsadmin.conf
    else
        SV_CONF=$ETC_DIR/$1/conf/omsadmin.conf
    fi
    if [ ! -r "$SV_CONF" ]; then
        echo "$0: line 133: $SV_CONF: No such file or directory" >&2
        WS_STATUS=1
        return 1
    fi
    WORKSPACE_ID=$(grep '^WORKSPACE_ID=' "$SV_CONF" | head -n 1 | cut -d= -f2)
    [ -n "$WORKSPACE_ID" ] || WORKSPACE_ID=$1
    CONF_DIR=$ETC_DIR/$WORKSPACE_ID/conf
    STATE_FILE=$SVC_STATE_DIR/$WORKSPACE_ID
    WS_STATUS=0
    return 0
}

get_state() {
    if [ -f "$STATE_FILE" ]; then
        cat "$STATE_FILE"
    else
        echo stopped
    fi
}

set_state() {
    mkdir -p "$SVC_STATE_DIR"
    echo "$1" > "$STATE_FILE.tmp.$$" && mv -f "$STATE_FILE.tmp.$$" "$STATE_FILE"
}

enable_omsagent_service() {
    if [ ! -f "$CONF_DIR/.service_registered" ]; then
        echo "INFO:  Configuring OMS agent service $WORKSPACE_ID ..."
        : > "$CONF_DIR/.service_registered"
    fi
    [ "$(get_state)" = disabled ] && set_state stopped
    WS_STATUS=0
    return 0
}

start_omsagent() {
    enable_omsagent_service
    set_state running
    WS_STATUS=0
    return 0
}

stop_omsagent() {
    if [ "$(get_state)" = running ]; then
        set_state stopped
    fi
    WS_STATUS=0
    return 0
}

restart_omsagent() {
    start_omsagent
}

disable_omsagent_service() {
    stop_omsagent
    if [ -f "$CONF_DIR/.service_registered" ]; then
        echo "INFO:  Unconfiguring OMS agent (systemd) service $WORKSPACE_ID ..."
    fi
    rm -f "$CONF_DIR/.service_registered"
    set_state disabled
    WS_STATUS=0
    return 0
}

fail_count=0
count_failure() {
    # $1 procedure, $2 workspace, $3 status
    if [ "$3" -ne 0 ]; then
        fail_count=$((fail_count + 1))
        echo "ERROR:  $1 failed with result '$3' on workspace $2." >&2
    fi
}

service_template() {
    # $1 activity, $2 workspace (optional)
    st_proc=$(procedure_name "$1")
    if [ -n "$2" ]; then
        if setup_variables "$2"; then
            "$st_proc"
        fi
        return $WS_STATUS
    fi
    fail_count=0
    if [ -d "$ETC_DIR" ]; then
        for st_ws in $(ls -1 "$ETC_DIR" | grep -E "$WORKSPACE_REGEX"); do
            if setup_variables "$st_ws"; then
                "$st_proc"
            fi
            count_failure "$st_proc" "$st_ws" "$WS_STATUS"
        done
        for st_ws in $NON_OMS_WS; do
            if [ -d "$ETC_DIR/$st_ws" ]; then
                if setup_variables "$st_ws"; then
                    "$st_proc"
                fi
                count_failure "$st_proc" "$st_ws" "$WS_STATUS"
            fi
        done
    fi
    return $fail_count
}

# ---------------------------------- main -------------------------------------

case "$SC_CMD" in
    ? | -? | -h | help)
        print_usage
        exit 0 ;;
    disable | enable | reload | restart | start | stop)
        sim_fault_check "service_control-$SC_CMD"
        service_template "$SC_CMD" "$SC_WS"
        exit $? ;;
    is-running)
        sim_fault_check service_control-is-running
        if setup_variables "$SC_WS"; then
            # 1 = running, 0 = not running (legacy boolean).
            if [ "$(get_state)" = running ]; then
                exit 1
            fi
            exit 0
        fi
        exit "$WS_STATUS" ;;
    find-systemd-dir)
        sim_fault_check service_control-find-systemd-dir
        echo "$ROOT/lib/systemd/system"
        exit 0 ;;
    functions)
        setup_variables "$SC_WS"
        exit "$WS_STATUS" ;;
    *)
        echo "Unknown parameter : '$SC_CMD'" >&2
        print_usage
        if [ -z "$SC_CMD" ]; then
            notification_exit $NO_OPTION_PROVIDED
        else
            notification_exit $INVALID_OPTION_PROVIDED
        fi ;;
esac
__OMSSIM_END_OF_service_control__
}


# -------------------------------- helpers ------------------------------------

usage() {
    echo "usage: $1 [OPTIONS]"
    echo "Options:"
    echo "  --extract                  Extract contents and exit."
    echo "  --force                    Force upgrade (override version checks)."
    echo "  --install                  Install the package from the system."
    echo "  --purge                    Uninstall the package and remove all related data."
    echo "  --remove                   Uninstall the package from the system."
    echo "  --noDigest                 Do not verify package digests."
    echo "  --restart-deps             Reconfigure and restart dependent service(s)."
    echo "  --source-references        Show source code reference hashes."
    echo "  --upgrade                  Upgrade the package in the system."
    echo "  --skip-docker-provider-install"
    echo "                             Do not install the docker provider (docker-cimprov)."
    echo "  --enable-opsmgr            Enable port 1270 for usage with opsmgr."
    echo "  --version                  Version of this shell bundle."
    echo "  --version-check            Check versions already installed to see if upgradable."
    echo "  --debug                    use shell debug mode."
    echo
    echo "  -w id, --id id             Use workspace ID <id> for automatic onboarding."
    echo "  -s key, --shared key       Use <key> as the shared key for automatic onboarding."
    echo "  -d dmn, --domain dmn       Use <dmn> as the OMS domain for onboarding. Optional."
    echo "                             default: opinsights.azure.com"
    echo "                             ex: opinsights.azure.us (for FairFax)"
    echo "  -p conf, --proxy conf      Use <conf> as the proxy configuration."
    echo "                             ex: -p [protocol://][user:password@]proxyhost[:port]"
    echo "  -a id, --azure-resource id Use Azure Resource ID <id>."
    echo "  -m marker, --multi-homing-marker marker"
    echo "                             Onboard as a multi-homing(Non-Primary) workspace."
    echo
    echo "  -? | -h | --help           shows this usage text."
}

verifyNoInstallationOption() {
    if [ -n "$installMode" ]; then
        echo "$0: Conflicting qualifiers, exiting" >&2
        sim_finish 2
    fi
}

need_value() {
    # $1 option, $2 number of remaining args (real bundle: "shift 2" fails)
    if [ "$2" -lt 2 ]; then
        echo "$0: 1: shift: can't shift that many" >&2
        sim_finish 2
    fi
}

PKG_DIR=
pkg_installed_version() {
    if [ -f "$PKG_DIR/$1" ]; then
        cat "$PKG_DIR/$1"
    else
        echo None
    fi
}

# $1 name, $2 package file, $3 version. Returns 0 if it was (re)installed.
pkg_install() {
    sim_pkg_line "$1" "$2"
    pi_installed=$(pkg_installed_version "$1")
    if [ "$installMode" = U ] && [ -z "$forceFlag" ] && [ "$pi_installed" = "$3" ]; then
        echo "Skipping package since existing version >= version available"
        return 1
    fi
    mkdir -p "$PKG_DIR"
    echo "$3" > "$PKG_DIR/$1"
    return 0
}

write_installed_script() {
    # $1 payload function, $2 destination. Bakes the root into the script.
    wis_tmp="$2.omssim-tmp.$$"
    "$1" | SIM_BAKE_ROOT="$ROOT" awk '
        /^OMS_SIM_BAKED_ROOT=.*@@OMSSIM_BAKED_ROOT@@/ {
            r = ENVIRON["SIM_BAKE_ROOT"]; q = ""
            for (i = 1; i <= length(r); i++) {
                c = substr(r, i, 1)
                q = q (c == "\047" ? "\047\\\047\047" : c)
            }
            print "OMS_SIM_BAKED_ROOT=\047" q "\047  # baked in at install time"
            next
        }
        { print }' > "$wis_tmp" && chmod 755 "$wis_tmp" && mv -f "$wis_tmp" "$2"
}

install_omi_files() {
    mkdir -p "$ROOT/opt/omi/bin" "$ROOT/etc/opt/omi/conf" "$ROOT/var/opt/omi/log"
    echo "simulated omiserver ($OMI_PKG)" > "$ROOT/opt/omi/bin/omiserver"
    echo "simulated OMSConsistencyInvoker" > "$ROOT/opt/omi/bin/OMSConsistencyInvoker"
    if [ ! -f "$ROOT/etc/opt/omi/conf/omiserver.conf" ]; then
        {
            echo "# omiserver.conf (simulated)"
            echo "httpport=0"
            echo "httpsport=0"
            echo "loglevel=WARNING"
        } > "$ROOT/etc/opt/omi/conf/omiserver.conf"
    fi
    if [ -f "$ROOT/etc/scxagent-enable-port" ] &&
        ! grep -E '^[[:space:]]*httpsport[[:space:]]*=.*([=,[:space:]]|^)1270([,[:space:]]|$)' "$ROOT/etc/opt/omi/conf/omiserver.conf" >/dev/null 2>&1; then
        sed 's/^\([[:space:]]*httpsport[[:space:]]*=.*\)$/\1,1270/' "$ROOT/etc/opt/omi/conf/omiserver.conf" > "$ROOT/etc/opt/omi/conf/omiserver.conf.tmp.$$" &&
            mv -f "$ROOT/etc/opt/omi/conf/omiserver.conf.tmp.$$" "$ROOT/etc/opt/omi/conf/omiserver.conf"
    fi
}

# The omi package creates the omiusers group; the omsagent package's preinstall
# creates the omsagent group and service account and makes omiusers its primary
# group (installer/datafiles/linux.data: groupadd -r omsagent, useradd -r ...
# omsagent, usermod -g omiusers), and its postinstall runs
# chown -R omsagent:omiusers /var/opt/microsoft/omsagent (base_omsagent.data).
# Here the accounts go into $ROOT/etc/passwd and $ROOT/etc/group with fixed ids.
create_agent_accounts() {
    mkdir -p "$ROOT/etc"
    touch "$ROOT/etc/passwd" "$ROOT/etc/group"
    grep -q '^omiusers:' "$ROOT/etc/group" || echo "omiusers:x:$SIM_OMIUSERS_GID:" >> "$ROOT/etc/group"
    grep -q '^omsagent:' "$ROOT/etc/group" || echo "omsagent:x:$SIM_OMSAGENT_GID:" >> "$ROOT/etc/group"
    grep -q '^omsagent:' "$ROOT/etc/passwd" ||
        echo "omsagent:x:$SIM_OMSAGENT_UID:$SIM_OMIUSERS_GID:OMS agent:/var/opt/microsoft/omsagent/run:/bin/bash" >> "$ROOT/etc/passwd"
}

install_omsagent_files() {
    create_agent_accounts
    mkdir -p "$ROOT/opt/microsoft/omsagent/bin" "$ROOT/etc/opt/microsoft/omsagent/sysconf" \
        "$ROOT/var/opt/microsoft/omsagent"
    sim_chown_agent -R "$ROOT/var/opt/microsoft/omsagent"
    write_installed_script sim_payload_omsadmin "$ROOT/opt/microsoft/omsagent/bin/omsadmin.sh"
    write_installed_script sim_payload_service_control "$ROOT/opt/microsoft/omsagent/bin/service_control"
    echo "$OMS_PKG" > "$ROOT/etc/opt/microsoft/omsagent/sysconf/installinfo.txt"
}

write_cron() {
    if [ ! -f "$ROOT/etc/cron.d/OMSConsistencyInvoker" ]; then
        mkdir -p "$ROOT/etc/cron.d"
        echo "7,22,37,52 * * * * omsagent /opt/omi/bin/OMSConsistencyInvoker >/dev/null 2>&1" > "$ROOT/etc/cron.d/OMSConsistencyInvoker"
    fi
}

run_postinstall_onboarding() {
    # The omsagent package onboards when /etc/omsagent-onboard.conf exists.
    if [ -f "$ROOT/etc/omsagent-onboard.conf" ]; then
        OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/omsadmin.sh"
    fi
}

do_install_or_upgrade() {
    echo "Checking host architecture ..."
    echo "Checking for ctypes python module..."
    echo "Extracting..."

    if [ "$installMode" = I ]; then
        if [ -f "$PKG_DIR/omi" ] || [ -f "$PKG_DIR/scx" ]; then
            echo "The omi or scx package is already installed. Please run the" >&2
            echo "installer with --upgrade (instead of --install) to continue." >&2
            sim_finish 23
        fi
        echo "Installing OMS agent ..."
    else
        echo "Updating OMS agent ..."
    fi

    if pkg_install omi "$OMI_PKG" 1.7.1-0; then
        install_omi_files
    fi
    if pkg_install scx "$SCX_PKG" 1.7.1-0; then
        mkdir -p "$ROOT/opt/microsoft/scx/bin" "$ROOT/etc/opt/microsoft/scx/conf"
        echo "simulated scx ($SCX_PKG)" > "$ROOT/opt/microsoft/scx/bin/scxadmin"
    fi
    if pkg_install omsagent "$OMS_PKG" "$BUNDLE_VERSION"; then
        install_omsagent_files
        omsagent_installed_now=1
    else
        omsagent_installed_now=
    fi
    if [ "$installMode" = U ]; then
        echo "Applying Syslog conf hotfix..."
        echo "Syslog conf ($ROOT/etc/opt/microsoft/omsagent/conf/omsagent.d/syslog.conf) not found, hotfix skipped."
    fi
    if pkg_install omsconfig "$DSC_PKG" 1.2.0-0; then
        mkdir -p "$ROOT/opt/microsoft/omsconfig/Scripts" "$ROOT/etc/opt/microsoft/omsconfig" \
            "$ROOT/var/opt/microsoft/omsconfig"
        echo "# simulated OMS_MetaConfigHelper.py" > "$ROOT/opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py"
    fi
    if [ "$installMode" = U ]; then
        echo "Applying DSC nxOMSSyslog hotfix..."
    fi
    write_cron

    if [ "$installMode" = U ]; then
        echo "----- Updating bundled packages -----"
    else
        echo "----- Installing bundled packages -----"
    fi
    if [ -n "$skipDocker" ]; then
        echo "Skipping docker provider (--skip-docker-provider-install)"
    elif pkg_install docker-cimprov "$DOCKER_PKG" 1.0.0-0; then
        mkdir -p "$ROOT/opt/microsoft/docker-cimprov/bin"
    fi

    [ -n "$omsagent_installed_now" ] && run_postinstall_onboarding
    sim_finish 0
}

pkg_remove() {
    echo "----- Removing package: $1 -----"
    if [ ! -f "$PKG_DIR/$1" ]; then
        echo "----- Ignore previous errors for package: $1 -----"
    fi
    rm -f "$PKG_DIR/$1"
}

do_remove_or_purge() {
    rm -f "$ROOT/etc/cron.d/OMSConsistencyInvoker" "$ROOT/etc/omsagent-onboard.conf"

    # Package pre-removal: stop and unregister every workspace's agent service.
    if [ -x "$ROOT/opt/microsoft/omsagent/bin/service_control" ]; then
        OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/service_control" disable
    fi

    pkg_remove omsconfig
    pkg_remove omsagent
    if [ -f "$PKG_DIR/docker-cimprov" ]; then
        echo "Removing docker-cimprov ..."
        pkg_remove docker-cimprov
    fi
    pkg_remove scx
    pkg_remove omi

    rm -rf "$ROOT/opt/microsoft/omsagent" "$ROOT/opt/microsoft/omsconfig" "$ROOT/opt/microsoft/scx" \
        "$ROOT/opt/microsoft/docker-cimprov" "$ROOT/opt/omi" "$ROOT/etc/opt/omi" "$ROOT/var/opt/omi" \
        "$ROOT/etc/opt/microsoft/omsagent/sysconf"

    if [ "$installMode" = P ]; then
        echo "Purging all files in cross-platform agent ..."
        rm -rf "$ROOT/etc/opt/microsoft/omsconfig" "$ROOT/var/opt/microsoft/omsconfig" \
            "$ROOT/etc/opt/microsoft/omsagent" "$ROOT/var/opt/microsoft/omsagent" \
            "$ROOT/etc/opt/microsoft/scx" "$ROOT/var/opt/microsoft/scx" \
            "$ROOT/.omssim/state/service" "$ROOT/etc/scxagent-enable-port"
        rm -f "$ROOT"/etc/logrotate.d/omsagent-*
        rmdir "$ROOT/etc/opt/microsoft" "$ROOT/opt/microsoft" "$ROOT/var/opt/microsoft" >/dev/null 2>&1
        rmdir "$ROOT/etc/opt" "$ROOT/var/opt" >/dev/null 2>&1
    fi
    sim_finish 0
}

do_version_check() {
    echo "Extracting..."
    for vc in "omsagent $BUNDLE_VERSION" "omsconfig 1.2.0-0" "omi 1.7.1-0" "scx 1.7.1-0"; do
        vc_name=${vc%% *}
        vc_avail=${vc#* }
        vc_inst=$(pkg_installed_version "$vc_name")
        if [ "$vc_inst" = "$vc_avail" ]; then vc_should=No; else vc_should=Yes; fi
        printf '%-15s%-15s%-15s%-15s\n' "$vc_name" "$vc_inst" "$vc_avail" "$vc_should"
    done
    sim_finish 0
}

do_extract() {
    # The real bundle extracts into ./omsbundle.<pid> (the current directory);
    # the simulator never writes outside the root, so it extracts under it.
    echo "Extracting..."
    ex_dir=$ROOT/.omssim/extract/omsbundle.$$
    mkdir -p "$ex_dir"
    sim_payload_omsadmin > "$ex_dir/omsadmin.sh"
    sim_payload_service_control > "$ex_dir/service_control"
    echo "Extracted to $ex_dir"
    sim_finish 0
}

# ---------------------------------- main -------------------------------------

if ! sim_root_check "${OMS_HANDLER_ROOT-}"; then
    echo "omsagent-0.0.0-sim (SIMULATED OMS bundle): refusing to run: $SIM_ROOT_ERROR. Set OMS_HANDLER_ROOT to an existing directory that stands in for / (see simulator/README.md)." >&2
    sim_finish 30
fi
sim_log_call bundle "$@"
PKG_DIR=$ROOT/.omssim/state/packages

installMode=
forceFlag=
skipDocker=
checkVersion=
enableOM=
topLevelDomain=
onboardID=
onboardKey=
proxy=
azureResourceID=
multiHoming=

while [ $# -ne 0 ]; do
    case "$1" in
        -d | --domain)
            need_value "$1" $#
            topLevelDomain=$2
            shift 2 ;;
        --extract-script | --extract-binary)
            # Hidden options of the real bundle; they write to a caller-chosen
            # path, which the simulator never does.
            need_value "$1" $#
            echo "omssim: $1 is accepted but not simulated (nothing written)" >&2
            shift 2 ;;
        --extract)
            verifyNoInstallationOption
            installMode=E
            shift ;;
        --force)
            forceFlag=true
            shift ;;
        --install)
            verifyNoInstallationOption
            installMode=I
            shift ;;
        -p | --proxy)
            need_value "$1" $#
            proxy=$2
            shift 2 ;;
        --purge)
            verifyNoInstallationOption
            installMode=P
            shift ;;
        --remove)
            verifyNoInstallationOption
            installMode=R
            shift ;;
        --restart-deps | --noDigest)
            shift ;;
        -s | --shared)
            need_value "$1" $#
            onboardKey=$2
            shift 2 ;;
        --source-references)
            echo "-- Source code references --"
            echo "omssim: simulated bundle $BUNDLE_VERSION"
            sim_finish 0 ;;
        --version)
            echo "Version: $BUNDLE_VERSION"
            sim_finish 0 ;;
        --version-check)
            checkVersion=true
            installMode=none
            shift ;;
        --upgrade)
            verifyNoInstallationOption
            installMode=U
            shift ;;
        --skip-docker-provider-install)
            skipDocker=true
            shift ;;
        -w | --id)
            need_value "$1" $#
            onboardID=$2
            shift 2 ;;
        --debug)
            echo "Starting shell debug mode." >&2
            echo "" >&2
            echo "SCRIPT:          $0" >&2
            echo "OMS_HANDLER_ROOT: $ROOT" >&2
            echo >&2
            shift ;;
        -a | --azure-resource)
            need_value "$1" $#
            azureResourceID=$2
            shift 2 ;;
        -m | --multi-homing-marker)
            need_value "$1" $#
            multiHoming=$2
            shift 2 ;;
        --enable-opsmgr)
            enableOM=true
            shift ;;
        -\? | -h | --help)
            usage "$(basename "$0")" >&2
            sim_finish 0 ;;
        *)
            echo "Unknown argument: '$1'" >&2
            echo "Use -h or --help for usage" >&2
            sim_finish 2 ;;
    esac
done

if [ -z "$installMode" ]; then
    echo "$0: No options specified, specify --help for help" >&2
    sim_finish 3
fi

ONBOARD_ERROR=0
if [ -n "$topLevelDomain" ] && { [ -z "$onboardID" ] || [ -z "$onboardKey" ]; }; then ONBOARD_ERROR=1; fi
if [ -z "$onboardID" ] && [ -n "$onboardKey" ]; then ONBOARD_ERROR=1; fi
if [ -n "$onboardID" ] && [ -z "$onboardKey" ]; then ONBOARD_ERROR=1; fi
if [ "$ONBOARD_ERROR" -ne 0 ]; then
    echo "Must specify both workspace ID (--id) and key (--shared) to onboard" >&2
    sim_finish 2
fi

case $installMode in
    U) OP=upgrade; OP_CAP=Upgrade; FAULT_POINT=bundle-upgrade ;;
    I) OP=install; OP_CAP=Install; FAULT_POINT=bundle-install ;;
    R) OP=remove; OP_CAP=Remove; FAULT_POINT=bundle-remove ;;
    P) OP=purge; OP_CAP=Purge; FAULT_POINT=bundle-purge ;;
    *) OP=upgrade; OP_CAP=Upgrade; FAULT_POINT= ;;
esac
[ -n "$FAULT_POINT" ] && sim_fault_check "$FAULT_POINT"

if [ -n "$enableOM" ]; then
    mkdir -p "$ROOT/etc"
    [ -f "$ROOT/etc/scxagent-enable-port" ] || : > "$ROOT/etc/scxagent-enable-port"
fi

if [ -n "$onboardID" ] && [ -n "$onboardKey" ]; then
    ONBOARD_FILE=$ROOT/etc/omsagent-onboard.conf
    mkdir -p "$ROOT/etc"
    : > "$ONBOARD_FILE"
    chmod 600 "$ONBOARD_FILE"
    {
        echo "WORKSPACE_ID=$onboardID"
        echo "SHARED_KEY=$onboardKey"
        [ -n "$proxy" ] && echo "PROXY=$proxy"
        [ -n "$topLevelDomain" ] && echo "URL_TLD=$topLevelDomain"
        [ -n "$azureResourceID" ] && echo "AZURE_RESOURCE_ID=$azureResourceID"
        [ -n "$multiHoming" ] && echo "MULTI_HOMING_MARKER=$multiHoming"
    } >> "$ONBOARD_FILE"
fi

case $installMode in
    R | P) do_remove_or_purge ;;
    E) do_extract ;;
    none) do_version_check ;;
    I | U) do_install_or_upgrade ;;
    *)
        echo "$0: Invalid setting of variable \$installMode, exiting" >&2
        sim_finish 30 ;;
esac
