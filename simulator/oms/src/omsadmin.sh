#!/bin/sh
#
# SIMULATED omsadmin.sh, installed by the simulated OMS shell bundle
# (omsagent-0.0.0-sim.universal.x64.sh). NOT the real Log Analytics agent tool.
# Same options and exit codes as the real /opt/microsoft/omsagent/bin/omsadmin.sh
# (installer/scripts/omsadmin.sh); every system path lives under the root baked in
# below at install time. No network access: onboarding always "succeeds" unless
# a fault is injected (see simulator/README.md).
#
# GENERATED FILE: edit simulator/oms/src/omsadmin.sh; npm run build regenerates it.
# POSIX sh only.

OMS_SIM_BAKED_ROOT=''  # @@OMSSIM_BAKED_ROOT@@

umask 022

# @@OMSSIM_LIB@@

sim_finish() {
    exit "$1"
}

# Where in the real onboard() (installer/scripts/omsadmin.sh, microsoft/OMS-Agent-for-Linux
# at 4573f0b; "l." below are its lines) each injected onboarding failure happens,
# so that it leaves what the real one leaves:
#   start       before anything is written (parse error, bad ID, no python: l.436-471)
#   certs       after create_workspace_directories, at certificate generation (l.489-513)
#   request     after the certificates and set_proxy_setting, which rewrites proxy.conf
#               from PROXY (l.557 -> create_proxy_conf), at the curl request; the
#               failure removes the certificates (cleanup_certs) and returns (l.594-638)
#   metaconfig  after save_config, the symlinks, syslog and `service_control start`:
#               the workspace is onboarded and its agent started (l.640-704)
sim_fault_stage() {
    case $1 in
        exit:4 | 4-* | exit:5 | 5-* | exit:6 | 6-* | exit:7 | exit:8) echo request ;;
        exit:30 | exit:31 | exit:32) echo certs ;;
        exit:33 | 33-* | exit:34) echo metaconfig ;;
        *) echo start ;;
    esac
}

# sim_onboard_fault_at STAGE: applies the onboarding fault taken at the start of
# the run when it belongs to STAGE.
sim_onboard_fault_at() {
    [ -n "${SIM_ONBOARD_FAULT-}" ] || return 0
    [ "$(sim_fault_stage "$SIM_ONBOARD_FAULT")" = "$1" ] || return 0
    SIM_FAULT=$SIM_ONBOARD_FAULT
    SIM_ONBOARD_FAULT=
    if [ "$1" = request ]; then
        # The error line comes first, then cleanup_certs (l.215-218) removes the
        # certificates, even an onboarded workspace's.
        SIM_CODE=
        sim_fault_emit "$SIM_FAULT"
        rm -f "$FILE_CRT" "$FILE_KEY"
        sim_finish "$SIM_CODE"
    fi
    sim_fault_apply omsadmin-onboard
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
# l.56-65: the python3 helper when python3 is installed, else the python2 one, else
# none (onboard() then exits 60). The simulated machine's tools are in $ROOT/usr/bin.
if [ -x "$ROOT/usr/bin/python3" ]; then
    SIM_METACONFIG_SHOWN=/opt/microsoft/omsconfig/Scripts/python3/OMS_MetaConfigHelper.py
elif [ -x "$ROOT/usr/bin/python2" ]; then
    SIM_METACONFIG_SHOWN=/opt/microsoft/omsconfig/Scripts/OMS_MetaConfigHelper.py
else
    SIM_METACONFIG_SHOWN=
fi
METACONFIG_PY=$ROOT$SIM_METACONFIG_SHOWN

# A python helper's traceback as su/sudo pass it on (stderr).
sim_metaconfig_traceback() {
    {
        echo "Traceback (most recent call last):"
        echo "  File \"$SIM_METACONFIG_SHOWN\", line 52, in <module>"
        echo "    main(sys.argv[1:])"
        echo "PermissionError: [Errno 13] Permission denied: '/etc/opt/omi/conf/omsconfig/configuration/Pending.mof'"
    } >&2
}
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
ERROR_GENERATING_METACONFIG=33
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
            say error "This script must be run as root or as the omsagent user."
            SIM_CODE=1 ;;
        exit:2)
            say error "Parsing error: 'unexpected' is unparsed"
            usage
            SIM_CODE=2 ;;
        exit:3)
            say error "Missing Workspace ID or Shared Key information for onboarding"
            SIM_CODE=3 ;;
        3-guid)
            say error "The Workspace ID is not valid"
            SIM_CODE=3 ;;
        exit:4)
            say error "Proxy could not be resolved during the onboarding request: curl returned 5. Verify the proxy."
            SIM_CODE=4 ;;
        4-connect)
            say error "Error connecting to OMS service through proxy: curl returned 7. Verify the proxy."
            SIM_CODE=4 ;;
        exit:5 | 5-key)
            say error "Error onboarding. HTTP code 403, Reason: InvalidWorkspaceKey. Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        5-missing-header)
            say error "Error onboarding. HTTP code 403, Reason: MissingHeader. Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        5-clock)
            say error "Error onboarding. HTTP code 403, Reason: . Check the Workspace ID, Workspace Key and that the time of the system is correct."
            SIM_CODE=5 ;;
        exit:6)
            say error "Error onboarding. HTTP code 500"
            SIM_CODE=6 ;;
        6-503)
            say error "Error onboarding. HTTP code 503"
            SIM_CODE=6 ;;
        exit:7)
            say error "Error resolving host during the onboarding request. Check the correctness of the workspace ID and the internet connectivity, or add a proxy."
            SIM_CODE=7 ;;
        exit:8)
            say error "Error during the onboarding request: curl returned 35. Check the internet connectivity and the correctness of the workspace ID and shared key or run omsadmin.sh with '-v'"
            SIM_CODE=8 ;;
        exit:30)
            say error "Error generating certs: missing config"
            SIM_CODE=30 ;;
        exit:31)
            say error "Error generating agent GUID"
            SIM_CODE=31 ;;
        exit:32)
            say error "Error generating certs"
            SIM_CODE=32 ;;
        exit:33)
            # l.686-704: `su - omsagent -c $METACONFIG_PY > /dev/null`, a retry with
            # `sudo -u omsagent`, then the error line; only their stderr shows. The
            # helper's traceback may name any error, "Permission denied" included.
            sim_metaconfig_traceback
            say info "Retrying configuring omsconfig by calling '$SIM_METACONFIG_SHOWN' with 'sudo'"
            sim_metaconfig_traceback
            say error "Configuring omsconfig and generating metaconfig failed with error code 1. For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log"
            SIM_CODE=33 ;;
        33-permission)
            echo "-su: line 1: $SIM_METACONFIG_SHOWN: Permission denied" >&2
            say info "Retrying configuring omsconfig by calling '$SIM_METACONFIG_SHOWN' with 'sudo'"
            echo "sudo: unable to execute $SIM_METACONFIG_SHOWN: Permission denied" >&2
            say error "Configuring omsconfig and generating metaconfig failed with error code 1. For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log"
            SIM_CODE=33 ;;
        exit:34)
            say error "MetaConfig generation script not available at $SIM_METACONFIG_SHOWN. For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log"
            SIM_CODE=34 ;;
        exit:60)
            # l.436-440: on stderr, without the info/error prefix.
            echo "Error: Python is not installed on this system, onboarding cannot continue." >&2
            echo "Please install either the python2 or python3 package." >&2
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

# The real log_info/log_warning/log_error (l.226-242) run `echo -e "info\t$1"` and then
# `logger -i -p $LOG_FACILITY.info -t omsagent "[INFO] $1"`. The script's #!/bin/sh is
# dash on Debian and Ubuntu, whose echo has no -e option: it prints "-e " and
# interprets the \t itself. say prints a line the way dash's echo does.
say() {
    printf -- '-e %s\t%s\n' "$1" "$2"
}

# logger fails (exit 1) when the machine has no syslog socket (minimal images,
# containers); util-linux logger then prints this line. The simulated machine's
# socket is $ROOT/dev/log (simulator/README.md, "Syslog").
sim_logger() {
    [ -e "$ROOT/dev/log" ] && return 0
    echo "logger: socket /dev/log: No such file or directory" >&2
    return 1
}

# The real script runs under `set -e` (l.3), but functions called as
# `onboard || clean_exit $?` (l.1217 and the other actions) run with it
# suspended; only what main() calls directly (parse_args with -p, the
# "Reading onboarding params" line) ends the script when logger fails.
SIM_ERREXIT=1
sim_log() {
    say "$1" "$2"
    if ! sim_logger; then
        [ -n "$SIM_ERREXIT" ] && exit 1
    fi
    return 0
}

log_info() {
    sim_log info "$1"
}

log_warning() {
    sim_log warning "$1"
}

log_error() {
    sim_log error "$1"
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
        printf 'DSC_ENDPOINT=%s\n' "$DSC_ENDPOINT"
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
    if [ -z "$SIM_METACONFIG_SHOWN" ]; then
        sim_fault_emit exit:60
        clean_exit 60
    fi
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
    # answers 1 when the workspace has no omsadmin.conf (installer/scripts/service_control),
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
        sim_onboard_fault_at certs
        AGENT_GUID=$(sim_new_guid)
        log_info "Generating certificate ..."
        # agent_maintenance_script.rb generate_certs: a 2048-bit RSA key.
        sim_pace 2
        write_certs
    fi
    log_info "Agent GUID is $AGENT_GUID"
    if [ "$VERBOSE" = "1" ]; then
        log_info "Private Key stored in:   $FILE_KEY"
        log_info "Public Key stored in:    $FILE_CRT"
    fi

    set_proxy_setting
    # The topology request (curl, l.580-592).
    sim_pace 1
    sim_onboard_fault_at request
    CERTIFICATE_UPDATE_ENDPOINT="https://$WORKSPACE_ID.oms.$URL_TLD/ConfigurationService.Svc/RenewCertificate"
    # agent_maintenance_script.rb (l.183-184) escapes the parentheses, because
    # service_control sources omsadmin.conf as shell (setup_variables: `. $conf`).
    DSC_ENDPOINT="https://$WORKSPACE_ID.agentsvc.azure-automation.net/Accounts/$WORKSPACE_ID/Nodes\\(AgentId='$AGENT_GUID'\\)"
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
        sim_onboard_fault_at metaconfig
        if [ ! -f "$METACONFIG_PY" ]; then
            log_error "MetaConfig generation script not available at $SIM_METACONFIG_SHOWN. For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log"
            return $ERROR_METACONFIG_PY_NOT_PRESENT
        fi
        # l.686-697: as root, `su - omsagent -c $METACONFIG_PY`, then `sudo -u omsagent`.
        # The simulator cannot switch users: it "runs" the helper by checking that it is
        # executable, and prints what su and sudo print when it is not.
        sim_pace 2
        if [ ! -x "$METACONFIG_PY" ]; then
            echo "-su: line 1: $SIM_METACONFIG_SHOWN: Permission denied" >&2
            log_info "Retrying configuring omsconfig by calling '$SIM_METACONFIG_SHOWN' with 'sudo'"
            echo "sudo: unable to execute $SIM_METACONFIG_SHOWN: Permission denied" >&2
            log_error "Configuring omsconfig and generating metaconfig failed with error code 1. For more details check logs in /var/opt/microsoft/omsconfig/omsconfig.log"
            return $ERROR_GENERATING_METACONFIG
        fi
        log_info "omsconfig is configured successfuly"
    fi
    return 0
}

# -U (l.942-960, run by the package's Postinstall_200): the pre-multi-homing
# proxy.conf moves to its current place; the simulator has no older layouts to migrate.
update_workspaces() {
    if [ -f "$DF_CONF_DIR/proxy.conf" ]; then
        echo "Moving proxy configuration from file $DF_CONF_DIR/proxy.conf to $CONF_PROXY..."
        cp -pf "$DF_CONF_DIR/proxy.conf" "$CONF_PROXY"
    fi
    return 0
}

# -R (l.962-988, run by the package's Postinstall_600 before starting every agent).
reconstruct_full_workspace_state() {
    for sim_rw_ws in $(list_guid_dirs); do
        WORKSPACE_ID=$sim_rw_ws
        setup_workspace_variables "$WORKSPACE_ID"
        if [ -f "$FILE_KEY" ] && [ -f "$FILE_CRT" ] && [ -f "$CONF_OMSADMIN" ]; then
            if [ -s "$CONF_OMSADMIN" ]; then
                create_workspace_directories "$WORKSPACE_ID"
                configure_logrotate
            else
                log_warning "Workspace $sim_rw_ws has an empty configuration file at $CONF_DIR/omsadmin.conf; please onboard to populate this configuration"
            fi
        else
            log_warning "Workspace $sim_rw_ws has created a folder $ETC_DIR/$sim_rw_ws, but is missing certificates or configuration; please onboard"
        fi
    done
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

# The real parse_args writes proxy.conf as soon as it has read -p (l.317-325),
# before anything else happens; its log line can end the script (set -e).
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
# From here on the real main() calls each action as `action || clean_exit`, which
# suspends set -e.
SIM_ERREXIT=

# One fault point per invocation, for the first operation the real script runs.
# An onboarding fault is taken now and applied where the real failure happens.
SIM_ONBOARD_FAULT=
if [ "$DETECT_SCOM" = 1 ]; then
    sim_fault_check omsadmin-scom
elif [ "$ONBOARDING" = 1 ]; then
    if sim_fault_take omsadmin-onboard; then
        SIM_ONBOARD_FAULT=$SIM_FAULT
        sim_onboard_fault_at start
    fi
elif [ "$LIST_WORKSPACES" = 1 ]; then
    sim_fault_check omsadmin-list
elif [ "$REMOVE" = 1 ] || [ "$REMOVE_ALL" = 1 ]; then
    sim_fault_check omsadmin-remove
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

if [ "$UPDATE_WORKSPACES" = "1" ]; then
    update_workspaces || clean_exit $?
fi

if [ "$RECONSTRUCT_WORKSPACE_STATE" = "1" ]; then
    reconstruct_full_workspace_state || clean_exit $?
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
