/**
 * The HTTP readiness endpoint (--ready-address): GET /ready is 200 exactly
 * when `hookinit ready` exits 0, 503 otherwise, and says nothing more; it
 * binds only where told; a bad address stops hookinit before the program
 * starts (exit 2, one line); it keeps answering under 1,000 concurrent and
 * 200 idle or malformed connections, as the control socket does.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanEnv, HOOKINIT } from "../support/hookinit.js";
import { MB, RssWatch, rssKb } from "../support/proc.js";
import { cleanupAfterEach, Hookinit, run } from "../support/process.js";
import { WAIT_FOR_TERM } from "../support/programs.js";
import { sleep, waitFor } from "../support/wait.js";

cleanupAfterEach();

interface Answer {
  verdict: "answered" | "refused" | "hung";
  status?: number;
  body?: string;
  headers?: Record<string, string | string[] | undefined>;
  error?: string;
}

/** One GET on a fresh connection, as the kubelet sends a probe. */
function get(port: number, path = "/ready", method = "GET", timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ verdict: "hung" });
    }, timeoutMs);
    const req = request(
      { host: "127.0.0.1", port, path, method, agent: false, headers: { Connection: "close" } },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => {
          clearTimeout(timer);
          resolve({
            verdict: "answered",
            status: response.statusCode ?? 0,
            body,
            headers: response.headers,
          });
        });
        response.on("error", (error) => {
          clearTimeout(timer);
          resolve({ verdict: "refused", error: error.message });
        });
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ verdict: "refused", error: error.code ?? error.message });
    });
    req.end();
  });
}

/** Raw bytes on a connection; resolves with what came back when the server closes. */
function raw(
  port: number,
  bytes: string,
  timeoutMs = 30_000,
): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    let reply = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closed: false });
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      reply += chunk;
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
  });
}

async function startWithEndpoint(
  options: Omit<Parameters<typeof Hookinit.start>[0], "args"> & { args?: string[] },
) {
  const hookinit = await Hookinit.start({
    ...options,
    args: ["--ready-address", "127.0.0.1:0", ...(options.args ?? [])],
  });
  const record = await hookinit.waitForLog((r) => r.msg === "readiness endpoint ready");
  return { hookinit, port: Number(record.port) };
}

/** How many sockets a process holds. */
function socketCount(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) count++;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

/** Inodes of the TCP sockets a process listens on, with their local address (hex, as in /proc/net/tcp). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  const found: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const rows = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    for (const row of rows) {
      const fields = row.trim().split(/\s+/);
      // local_address is field 1, st (0A = LISTEN) field 3, inode field 9.
      if (fields[3] === "0A" && inodes.has(fields[9] as string)) found.push(fields[1] as string);
    }
  }
  return found;
}

describe("GET /ready", () => {
  it("is 200 exactly while `hookinit ready` exits 0, 503 otherwise, and says nothing else", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const go = join(dir, "poststart-may-finish");
    const release = join(dir, "prestop-may-finish");
    const { hookinit, port } = await startWithEndpoint({
      config: {
        postStart: {
          exec: { command: ["sh", "-c", `while [ ! -e ${go} ]; do sleep 0.05; done`] },
        },
        preStop: {
          exec: { command: ["sh", "-c", `while [ ! -e ${release} ]; do sleep 0.05; done`] },
        },
      },
      program: WAIT_FOR_TERM,
    });
    const agree = async (ready: boolean) => {
      const answer = await get(port);
      const probe = await hookinit.client(["ready"]);
      expect(probe.code, probe.stderr).toBe(ready ? 0 : 1);
      expect(answer).toMatchObject({
        verdict: "answered",
        status: ready ? 200 : 503,
        body: ready ? "ready\n" : "not ready\n",
      });
      // Nothing beyond ready or not: no version, no phase, no server banner.
      expect(Object.keys(answer.headers ?? {}).sort()).toEqual(
        ["cache-control", "connection", "content-length", "content-type", "date"].sort(),
      );
    };

    // postStart still running: not ready.
    await hookinit.waitForLog((r) => r.msg === "hook started" && r.hook === "postStart");
    await agree(false);

    writeFileSync(go, "");
    await waitFor("ready", async () => (await get(port)).status === 200);
    await agree(true);
    const head = await get(port, "/ready", "HEAD");
    expect(head).toMatchObject({ status: 200, body: "" });

    // Other paths and methods are not a readiness answer.
    expect(await get(port, "/status")).toMatchObject({ status: 404 });
    expect(await get(port, "/")).toMatchObject({ status: 404 });
    expect(await get(port, "/ready", "POST")).toMatchObject({ status: 405 });
    expect(await get(port, "/ready?verbose=1")).toMatchObject({ status: 200, body: "ready\n" });

    // Stopping (preStop running): not ready.
    hookinit.signal("SIGTERM");
    await hookinit.waitForLog((r) => r.msg === "hook started" && r.hook === "preStop");
    await agree(false);

    writeFileSync(release, "");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(0);
    // Gone with hookinit.
    expect((await get(port)).verdict).toBe("refused");
  });

  it("listens only when told, and only on the address given", { timeout: 60_000 }, async () => {
    const plain = await Hookinit.start({ program: WAIT_FOR_TERM });
    expect(listeningSockets(await plain.hostPid())).toEqual([]);
    expect(plain.logs().some((r) => r.msg === "readiness endpoint ready")).toBe(false);

    const { hookinit, port } = await startWithEndpoint({ program: WAIT_FOR_TERM });
    const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
    // 127.0.0.1 in /proc/net/tcp's little-endian hex.
    expect(listeningSockets(await hookinit.hostPid())).toEqual([`0100007F:${hexPort}`]);

    const fromEnv = await Hookinit.start({
      program: WAIT_FOR_TERM,
      env: { HOOKINIT_READY_ADDRESS: "127.0.0.1:0" },
    });
    const record = await fromEnv.waitForLog((r) => r.msg === "readiness endpoint ready");
    expect(await get(Number(record.port))).toMatchObject({ status: 200 });
  });
});

describe("a bad --ready-address", () => {
  const refuses = async (args: string[], env: Record<string, string>, pattern: RegExp) => {
    const dir = tempDir();
    const marker = join(dir, "program-ran");
    const result = await run(HOOKINIT, [...args, "--", "touch", marker], {
      env: cleanEnv(env),
      timeoutMs: 60_000,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^hookinit: --ready-address /);
    expect(lines[0]).toMatch(pattern);
    // Refused before the program starts.
    expect(existsSync(marker)).toBe(false);
  };

  it.for([
    ["localhost:8086", /not an IP address/],
    ["8086x", /no port|not a port/],
    ["[::1]", /no port|not a port|IPv6/],
    ["127.0.0.1:70000", /port 70000/],
  ] as const)("%s: exit 2, one line, the program never runs", async ([text, pattern]) => {
    await refuses(["--ready-address", text], {}, pattern);
    await refuses([], { HOOKINIT_READY_ADDRESS: text }, pattern);
  });

  it("an address in use or not ours: exit 2, one line, the program never runs", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await refuses(["--ready-address", `127.0.0.1:${port}`], {}, /already in use/);
    } finally {
      taken.close();
    }
    // TEST-NET-1 (RFC 5737): assigned to no interface.
    await refuses(["--ready-address", "192.0.2.1:8086"], {}, /no interface/);
  });
});

describe("GET /ready under bad and slow clients", () => {
  it("1,000 concurrent and 200 idle or malformed connections: keeps answering, memory bounded", {
    timeout: 300_000,
  }, async () => {
    const { hookinit, port } = await startWithEndpoint({ program: WAIT_FOR_TERM });
    const pid = await hookinit.hostPid();
    for (let i = 0; i < 20; i++) expect((await get(port)).status).toBe(200);
    await sleep(1500);
    const baselineKb = rssKb(pid) as number;
    const watch = new RssWatch(pid, 100);

    // Malformed requests get 400 (or 431 for a huge head) and the connection closes.
    const garbage = await raw(port, "\x00\x01 not http at all\r\n\r\n");
    expect(garbage.closed).toBe(true);
    expect(garbage.reply).toMatch(/^HTTP\/1\.1 400/);
    const huge = await raw(port, `GET /ready HTTP/1.1\r\nX: ${"a".repeat(64 * 1024)}\r\n\r\n`);
    expect(huge.closed).toBe(true);
    expect(huge.reply).toMatch(/^HTTP\/1\.1 4(00|31)/);

    // 200 idle connections: 100 send nothing, 100 half a request head.
    const idle: Socket[] = [];
    const idleClosed: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.resume();
      if (i % 2 === 1) socket.write("GET /ready HTTP/1.1\r\nHost: x\r\n");
      idleClosed.push(new Promise((resolve) => socket.once("close", () => resolve())));
      idle.push(socket);
    }
    await sleep(200);
    for (let i = 0; i < 5; i++) expect((await get(port)).status).toBe(200);
    // Bun's server accepts a burst of connections that send nothing in batches
    // (about a hundred at once, the rest within seconds): wait for them all.
    await waitFor("hookinit to hold the 200 idle connections", () => socketCount(pid) >= 200);

    // 1,000 at once: answered 200, or cleanly turned away (connection limit), never left hanging.
    const concurrent = await Promise.all(Array.from({ length: 1000 }, () => get(port)));
    const tally: Record<string, number> = {};
    for (const answer of concurrent) {
      const key =
        answer.verdict === "answered"
          ? `answered ${answer.status}`
          : `${answer.verdict} ${answer.error ?? ""}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    console.log("1,000 concurrent GET /ready:", tally);
    expect(concurrent.filter((a) => a.verdict === "hung")).toEqual([]);
    for (const answer of concurrent) {
      if (answer.verdict === "answered") expect(answer.status).toBe(200);
    }
    expect(concurrent.filter((a) => a.verdict === "answered").length).toBeGreaterThan(500);
    expect((await get(port)).status).toBe(200);

    // The idle ones are dropped by the server (the 5 s header timeout), not kept forever.
    await Promise.race([
      Promise.all(idleClosed),
      sleep(60_000).then(() => {
        throw new Error(`idle connections still open: ${idle.filter((s) => !s.closed).length}`);
      }),
    ]);
    expect((await get(port)).status).toBe(200);
    // And hookinit let go of them: its sockets are back to a handful.
    await waitFor("hookinit to close the idle connections", () => socketCount(pid) < 20);
    watch.stop();
    console.log(
      `RSS: baseline ${Math.round(baselineKb / MB)} MB, max ${watch.maxMb} MB (${watch.samples} samples)`,
    );
    expect(watch.maxKb).toBeLessThan(150 * MB);

    // The control socket and the program were never disturbed.
    const status = await hookinit.status();
    expect(status).toMatchObject({ phase: "running", ready: true });
    expect(hookinit.logs().filter((r) => /internal error/.test(r.msg))).toEqual([]);
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(0);
  });
});
