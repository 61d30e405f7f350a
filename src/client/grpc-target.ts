import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
/**
 * Validation of gRPC channel targets, so a typo fails when the channel
 * arguments are built rather than as a confusing connection error later.
 */

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?))*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

function validPort(p: string): boolean {
  if (!/^\d{1,5}$/.test(p)) return false;
  const n = Number(p);
  return n >= 1 && n <= 65535;
}

/** Checks `host:port` (host a name, IPv4 address or bracketed IPv6 address). */
function checkHostPort(hp: string): string | undefined {
  let host: string;
  let port: string;
  if (hp.startsWith("[")) {
    const close = hp.indexOf("]");
    if (close < 0) return "an IPv6 address needs a closing ']'";
    host = hp.slice(1, close);
    if (hp[close + 1] !== ":") return "the port is missing after the IPv6 address";
    port = hp.slice(close + 2);
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return `'${host}' is not an IPv6 address`;
  } else {
    const colon = hp.lastIndexOf(":");
    if (colon < 0) return "the port is missing";
    host = hp.slice(0, colon);
    port = hp.slice(colon + 1);
    if (host.includes(":")) return "an IPv6 address must be written in brackets, e.g. [::1]:50051";
    if (!HOST.test(host) && !IPV4.test(host)) return `'${host}' is not a valid host name`;
  }
  if (!validPort(port)) return `'${port}' is not a port number (1-65535)`;
  return undefined;
}

/**
 * Throws an Error naming `target` and the fix when it is not a gRPC target
 * this client can dial. Accepted: `host:port`, `dns:///host:port`,
 * `dns:host:port`, `ipv4:a.b.c.d:port[,...]`, `ipv6:[addr]:port[,...]`,
 * `unix:/path`, `unix:///path`.
 */
export function validateGrpcTarget(target: unknown): string {
  if (typeof target !== "string") {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `GrpcChannelArgs.target must be a string like "armada.example.com:50051", got ${typeof target}`,
    );
  }
  const fail = (why: string): never => {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `GrpcChannelArgs.target ${JSON.stringify(target)} is not a valid gRPC target: ${why}. ` +
        `Write it as host:port (e.g. "armada.example.com:50051"), dns:///host:port, ipv4:1.2.3.4:port or unix:/path/to/socket.`,
    );
  };
  if (target.length === 0) fail("it is empty");
  if (target.trim() !== target || /\s/.test(target)) fail("it contains whitespace");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) && !/^(dns|unix):/i.test(target)) {
    fail("gRPC targets have no http(s):// scheme");
  }
  let why: string | undefined;
  if (target.startsWith("unix:")) {
    const path = target.startsWith("unix://") ? target.slice("unix://".length) : target.slice("unix:".length);
    if (!path.startsWith("/") && target.startsWith("unix://"))
      why = "a unix socket path after unix:// must be absolute";
    else if (path.length === 0) why = "the socket path is missing";
  } else if (target.startsWith("dns:")) {
    let rest = target.slice(4);
    if (rest.startsWith("//")) {
      // dns://[authority]/host:port — the authority (a DNS server) may be empty.
      const slash = rest.indexOf("/", 2);
      if (slash < 0) why = "expected dns:///host:port";
      else rest = rest.slice(slash + 1);
    }
    why ??= checkHostPort(rest);
  } else if (target.startsWith("ipv4:")) {
    for (const a of target.slice(5).split(",")) {
      const colon = a.lastIndexOf(":");
      if (colon < 0 || !IPV4.test(a.slice(0, colon)) || !validPort(a.slice(colon + 1))) {
        why = `'${a}' is not an IPv4 address:port`;
        break;
      }
    }
  } else if (target.startsWith("ipv6:")) {
    for (const a of target.slice(5).split(",")) {
      why = a.startsWith("[") ? checkHostPort(a) : `'${a}' must be written as [addr]:port`;
      if (why) break;
    }
  } else {
    why = checkHostPort(target);
  }
  if (why) fail(why);
  return target;
}
