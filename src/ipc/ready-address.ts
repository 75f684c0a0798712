import { isIPv4, isIPv6 } from "node:net";

/**
 * Where `--ready-address` asks the readiness endpoint to listen. `host`
 * undefined means every interface (IPv6 and IPv4, as Node's listen() does
 * with no host).
 */
export interface ReadyAddress {
  host: string | undefined;
  port: number;
  /** As the user wrote it, for messages. */
  text: string;
}

/**
 * Parses `:8086`, `8086`, `127.0.0.1:8086`, `[::]:8086`, `[::1]:8086`.
 * Only IP literals: a host name would need a DNS lookup at start-up and
 * could bind somewhere else than the user meant. Throws an Error whose
 * message is one line, fit for "hookinit: ...".
 */
export function parseReadyAddress(text: string): ReadyAddress {
  const fail = (why: string): never => {
    throw new Error(
      `--ready-address ${JSON.stringify(text)}: ${why}; write e.g. :8086, 127.0.0.1:8086 or [::1]:8086`,
    );
  };
  let host: string | undefined;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] as string;
    portText = bracketed[2] as string;
    if (!isIPv6(host)) fail(`${JSON.stringify(host)} is not an IPv6 address`);
  } else if (/^\d+$/.test(text)) {
    portText = text;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1) fail("no port");
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host === "") host = undefined;
    else if (host.includes(":")) fail("put an IPv6 address in brackets");
    else if (!isIPv4(host))
      fail(`${JSON.stringify(host)} is not an IP address (host names are not resolved)`);
  }
  if (!/^\d{1,5}$/.test(portText)) fail(`${JSON.stringify(portText)} is not a port number`);
  const port = Number(portText);
  // 0 asks the kernel for a free port (the log says which): for tests.
  if (port > 65535) fail(`port ${port} is not from 0 to 65535`);
  return { host, port, text };
}
