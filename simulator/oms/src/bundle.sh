#!/bin/sh
#
# SIMULATED OMS agent shell bundle (omsagent-0.0.0-sim.universal.x64.sh).
#
# NOT the real Log Analytics agent. It accepts the options of the real
# omsagent-<ver>.universal.x64.sh (installer/bundle in OMS-Agent-for-Linux) and "installs"
# a fake omsadmin.sh and service_control into directories under
# $OMS_HANDLER_ROOT, which must be set (absolute, existing, not /).
# Every failure the real bundle can report can be injected with a fault file,
# see simulator/README.md.
#
# GENERATED FILE: edit simulator/oms/src/*.sh; npm run build regenerates it.
# POSIX sh only.

PATH=/usr/bin:/usr/sbin:/bin:/sbin
umask 022

# @@OMSSIM_LIB@@

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
# The scripts this bundle installs (generated from simulator/oms/src by
# build-bundle.sh). Each function prints one script.

# @@OMSSIM_PAYLOAD@@

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
        # The omsagent package's Preinstall_1000 (installer/datafiles/linux.data):
        # `[ -f $OMS_SERVICE ] && $OMS_SERVICE disable`, every workspace's agent.
        if [ -x "$ROOT/opt/microsoft/omsagent/bin/service_control" ]; then
            OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/service_control" disable
        fi
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
        mkdir -p "$ROOT/opt/microsoft/omsconfig/Scripts/python3"
        for mc in Scripts/OMS_MetaConfigHelper.py Scripts/python3/OMS_MetaConfigHelper.py; do
            printf '#!/bin/sh\n# simulated OMS_MetaConfigHelper.py\n' > "$ROOT/opt/microsoft/omsconfig/$mc"
            chmod 755 "$ROOT/opt/microsoft/omsconfig/$mc"
        done
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

    if [ -n "$omsagent_installed_now" ]; then
        # The omsagent package's postinstall (installer/datafiles/base_omsagent.data
        # Postinstall_200 and _300, linux.data Postinstall_600): `omsadmin.sh -U`,
        # onboarding from /etc/omsagent-onboard.conf, `omsadmin.sh -R`, then
        # `service_control start` for every workspace: an upgrade starts agents that
        # were stopped or disabled before it.
        OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/omsadmin.sh" -U
        run_postinstall_onboarding
        OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/omsadmin.sh" -R
        OMS_SIM_INTERNAL=1 "$ROOT/opt/microsoft/omsagent/bin/service_control" start
    fi
    sim_finish 0
}

# The omsagent package's Postuninstall_10 (installer/datafiles/base_omsagent.data)
# and Postuninstall_1000 (linux.data), run on removal (not on upgrade): per
# workspace, rmdir of certs/ and conf/ (only when empty) and rm -rf of the var
# tree's tmp/; the package's own files; the primary workspace's symlinks; then
# rmdir of the parent directories, which fails while a workspace's files are
# still in them; then userdel omsagent and groupdel omsagent. proxy.conf is no
# package file and stays.
postuninstall_omsagent() {
    pu_etc=$ROOT/etc/opt/microsoft/omsagent
    pu_var=$ROOT/var/opt/microsoft/omsagent
    if [ -d "$pu_etc" ]; then
        for pu_ws in $(ls -1 "$pu_etc" | grep -E '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'); do
            echo "Deleting certs and conf directories for workspace $pu_ws if empty..."
            rmdir "$pu_etc/$pu_ws/certs/" 2>/dev/null
            rmdir "$pu_etc/$pu_ws/conf/" 2>/dev/null
            rm -rf "$pu_var/$pu_ws/tmp/" 2>/dev/null
            rmdir "$pu_var/$pu_ws/state/" 2>/dev/null
        done
    fi
    rm -f "$pu_etc"/sysconf/installinfo.txt*
    rm -rf "$pu_etc/sysconf"
    rm -f "$pu_etc/certs" "$pu_etc/conf" "$pu_var/tmp" "$pu_var/state" "$pu_var/run" "$pu_var/log" 2>/dev/null
    rmdir "$pu_etc/certs/" "$pu_etc/conf/" "$pu_var/tmp/" "$pu_var/state/" "$pu_var/run/" "$pu_var/log/" 2>/dev/null
    rmdir "$pu_etc" 2>/dev/null
    rmdir "$ROOT/etc/opt/microsoft" 2>/dev/null
    rmdir "$ROOT/etc/opt" 2>/dev/null
    rmdir "$pu_var" 2>/dev/null
    rm -f "$ROOT"/etc/logrotate.d/omsagent*
    echo "Deleting omsagent service account ..."
    if grep -q '^omsagent:' "$ROOT/etc/passwd" 2>/dev/null; then
        grep -v '^omsagent:' "$ROOT/etc/passwd" > "$ROOT/etc/passwd.omssim.$$"
        cat "$ROOT/etc/passwd.omssim.$$" > "$ROOT/etc/passwd" && rm -f "$ROOT/etc/passwd.omssim.$$"
        if grep -q '^omsagent:' "$ROOT/etc/group" 2>/dev/null; then
            echo "Deleting omsagent group ..."
            grep -v '^omsagent:' "$ROOT/etc/group" > "$ROOT/etc/group.omssim.$$"
            cat "$ROOT/etc/group.omssim.$$" > "$ROOT/etc/group" && rm -f "$ROOT/etc/group.omssim.$$"
        fi
    fi
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
        "$ROOT/opt/microsoft/docker-cimprov" "$ROOT/opt/omi" "$ROOT/etc/opt/omi" "$ROOT/var/opt/omi"
    postuninstall_omsagent

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
