// Who the extension is, for the handler, the operator CLI and the packaging scripts alike. manifest.xml says the
// same (a test holds them together) and is where the version lives.
export const PUBLISHER = "Microsoft.EnterpriseCloud.Monitoring";
export const EXTENSION_TYPE = "OmsAgentForLinux";
/** `<publisher>.<type>`: the guest agent's name for the extension, its directories and its log folder. */
export const EXTENSION_FULL_NAME = `${PUBLISHER}.${EXTENSION_TYPE}`;
