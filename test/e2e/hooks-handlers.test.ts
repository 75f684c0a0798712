/**
 * The handlers besides exec: httpGet (success is 200 to 399, headers and path sent, from
 * inside the container on 127.0.0.1), tcpSocket (success when a connection
 * opens), sleep (delays the stop signal).
 */
import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { createServer as createTcpServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";
import { WAIT_FOR_TERM } from "../support/programs.js";

cleanupAfterEach();

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

const seen: Seen[] = [];
const http = createHttpServer((request, response) => {
  seen.push({ path: request.url ?? "", headers: request.headers });
  const status = Number(/^\/status\/(\d{3})/.exec(request.url ?? "")?.[1] ?? 404);
  const headers = status === 302 ? { Location: "/status/500" } : {};
  response.writeHead(status, headers);
  response.end(`status ${status}\n`);
});
const tcp = createTcpServer((socket) => socket.destroy());
let httpPort = 0;
let tcpPort = 0;
let closedPort = 0;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
}

beforeAll(async () => {
  httpPort = await listen(http);
  tcpPort = await listen(tcp);
  // A port nobody listens on: take one, then close it.
  const probe = createTcpServer();
  closedPort = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await Promise.all([
    new Promise((resolve) => http.close(resolve)),
    new Promise((resolve) => tcp.close(resolve)),
  ]);
});

/** Starts hookinit with `preStop`, calls it through the client, stops hookinit. */
async function callPreStop(preStop: unknown) {
  const hookinit = await Hookinit.start({ config: { preStop }, program: WAIT_FOR_TERM });
  const client = await hookinit.client(["hook", "preStop"]);
  hookinit.signal("SIGTERM");
  const exit = await hookinit.wait();
  expect(exit.code, hookinit.describe()).toBe(0);
  return { client, hookinit };
}

describe("httpGet preStop against a local server", () => {
  it.each([
    [200, 0],
    [302, 0],
    [404, 1],
    [500, 1],
  ])("status %i: client exit %i, path and headers arrive", async (status, expected) => {
    const token = `t-${status}-${Math.random().toString(36).slice(2)}`;
    const { client, hookinit } = await callPreStop({
      httpGet: {
        path: `/status/${status}?token=${token}`,
        port: httpPort,
        httpHeaders: [
          { name: "X-Drain-Token", value: token },
          { name: "X-Second", value: "two words" },
        ],
      },
    });
    expect(client.code, client.stderr).toBe(expected);
    const requests = seen.filter((s) => s.path.includes(token));
    // Exactly one request: hookinit does not follow the 302 nor retry.
    expect(requests).toHaveLength(1);
    expect(requests[0]?.path).toBe(`/status/${status}?token=${token}`);
    expect(requests[0]?.headers["x-drain-token"]).toBe(token);
    expect(requests[0]?.headers["x-second"]).toBe("two words");
    // The result line, at the client and in the log.
    const output = `${client.stdout}${client.stderr}`;
    expect(output).toContain(`-> ${status}`);
    expect(hookinit.hookOutput("preStop").some((line) => line.includes(`-> ${status}`))).toBe(true);
  });

  it("a path without a leading slash and the default path", async () => {
    const token = `noslash-${Math.random().toString(36).slice(2)}`;
    const first = await callPreStop({ httpGet: { path: `status/200/${token}`, port: httpPort } });
    expect(first.client.code).toBe(0);
    expect(seen.some((s) => s.path === `/status/200/${token}`)).toBe(true);

    const before = seen.length;
    const second = await callPreStop({ httpGet: { port: httpPort } });
    // "/" is not a /status/ path: the server answers 404.
    expect(second.client.code).not.toBe(0);
    expect(seen.slice(before).map((s) => s.path)).toEqual(["/"]);
  });

  it("scheme HTTPS against a plain-HTTP server: retried over HTTP without Authorization, as the kubelet does", async () => {
    const token = `fallback-${Math.random().toString(36).slice(2)}`;
    const { client } = await callPreStop({
      httpGet: {
        scheme: "HTTPS",
        path: `/status/200/${token}`,
        port: httpPort,
        httpHeaders: [
          { name: "Authorization", value: "Bearer secret" },
          { name: "X-Drain-Token", value: token },
        ],
      },
    });
    expect(client.code, client.stderr).toBe(0);
    expect(client.stderr).toContain("answered in plain HTTP; retrying over HTTP");
    expect(client.stdout).toContain(`GET http://127.0.0.1:${httpPort}/status/200/${token} -> 200`);
    const requests = seen.filter((s) => s.path.includes(token));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.headers.authorization).toBeUndefined();
    expect(requests[0]?.headers["x-drain-token"]).toBe(token);
  });

  it("a closed port: non-zero", async () => {
    const { client, hookinit } = await callPreStop({ httpGet: { path: "/", port: closedPort } });
    expect(client.code).not.toBe(0);
    expect(client.code).not.toBe(69);
    expect(client.stderr).toMatch(/ECONNREFUSED/);
    expect(hookinit.hookOutput("preStop", "stderr").join("\n")).toMatch(/ECONNREFUSED/);
  });
});

describe("tcpSocket preStop", () => {
  it("a listening port: 0", async () => {
    const { client } = await callPreStop({ tcpSocket: { port: tcpPort } });
    expect(client.code, client.stderr).toBe(0);
    expect(client.stdout).toContain(`127.0.0.1:${tcpPort}`);
  });

  it("a closed port: non-zero", async () => {
    const { client } = await callPreStop({ tcpSocket: { port: closedPort, host: "127.0.0.1" } });
    expect(client.code).not.toBe(0);
    expect(client.code).not.toBe(69);
    expect(client.stderr).toMatch(/ECONNREFUSED/);
  });
});

describe("exec preStop", () => {
  it("runs argv without a shell, with the program's environment and cwd, and no stdin", async () => {
    const dir = tempDir();
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'printf "%s|" "$0" "$1" "$HOOK_TEST_VAR" "$(pwd)"; cat; echo "stdin-closed"',
              "$HOME",
              "two  spaces",
            ],
          },
        },
      },
      dir,
      cwd: dir,
      env: { HOOK_TEST_VAR: "from-the-program-env" },
      program: WAIT_FOR_TERM,
    });
    const client = await hookinit.client(["hook", "preStop"], { HOOK_TEST_VAR: "from-the-client" });
    expect(client.code, client.stderr).toBe(0);
    expect(client.stdout).toBe(`$HOME|two  spaces|from-the-program-env|${dir}|stdin-closed\n`);
  });

  it("a command that does not exist: 127, and the reason", async () => {
    const { client } = await callPreStop({ exec: { command: ["/nonexistent/drain"] } });
    expect(client.code).toBe(127);
    expect(client.stderr).toContain("/nonexistent/drain");
  });
});

describe("sleep preStop", () => {
  it("delays the stop signal by at least its seconds", async () => {
    const hookinit = await Hookinit.start({
      config: { preStop: { sleep: { seconds: 1 } } },
      program: [
        "sh",
        "-c",
        `trap 'echo "got-TERM"; exit 0' TERM; echo program-up; sleep 100000 & wait`,
      ],
    });
    await hookinit.waitForLine((line) => line === "program-up");
    const sentAt = performance.now();
    hookinit.signal("SIGTERM");
    await hookinit.waitForLine((line) => line === "got-TERM");
    // Slack for timer rounding; no upper bound on a loaded machine.
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(950);
    expect((await hookinit.wait()).code).toBe(0);
    expect(
      hookinit.logs().find((r) => r.hook === "preStop" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 0 });
  });

  it("sleep seconds 0 (valid since Kubernetes 1.34): the client's preStop returns 0 at once", async () => {
    const { client, hookinit } = await callPreStop({ sleep: { seconds: 0 } });
    expect(client.code, client.stderr).toBe(0);
    expect(
      hookinit.logs().find((r) => r.hook === "preStop" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 0 });
  });

  it("a client's sleep preStop returns 0 after at least its seconds", async () => {
    const { client } = await callPreStop({ sleep: { seconds: 1 } });
    expect(client.code).toBe(0);
    expect(client.elapsedMs).toBeGreaterThanOrEqual(950);
  });
});
