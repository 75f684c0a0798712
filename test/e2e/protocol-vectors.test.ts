/**
 * The control protocol is defined once (src/ipc/protocol.ts) and spoken by
 * two clients: the TypeScript one (src/ipc/client.ts, in dist/hookinit.cjs)
 * and the C one (native/client.c, dist/hookinit-client). Both are held to
 * test/fixtures/protocol-vectors.json: for each reply a fake server sends,
 * the request line the client must send and the exact stdout, stderr and
 * exit code it must produce; malformed replies included.
 *
 * RECORD_VECTORS=1 rewrites the expectations from the TypeScript client
 * (review the diff before committing it).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { C_CLIENT, cleanEnv, ROOT, TS_CLIENT } from "../support/hookinit.js";

const VECTORS_FILE = join(ROOT, "test", "fixtures", "protocol-vectors.json");

type Chunk = string | { hex: string };
interface Expect {
  stdout: string;
  stderr: string;
  code: number | null;
}
interface Exchange {
  name: string;
  argv: Chunk[];
  env?: Record<string, string>;
  reply?: Chunk[];
  expect?: Expect;
}
interface Vectors {
  comment: string;
  requests: Record<string, string>;
  exchanges: Exchange[];
  usage: Exchange[];
}

const vectors = JSON.parse(readFileSync(VECTORS_FILE, "utf8")) as Vectors;
const recording = process.env.RECORD_VECTORS === "1";

const bytes = (chunk: Chunk) =>
  typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk.hex, "hex");

/** A fake supervisor: records each request line, answers with the chunks, closes. */
async function fakeServer(
  reply: Chunk[],
): Promise<{ path: string; requests: string[]; server: Server }> {
  const path = join(tempDir(), "control.sock");
  const requests: string[] = [];
  const server = createServer((socket) => {
    socket.on("error", () => {});
    let request = "";
    socket.on("data", async (data) => {
      request += data.toString("utf8");
      if (!request.includes("\n")) return;
      requests.push(request);
      for (const chunk of reply) {
        socket.write(bytes(chunk));
        // Separate writes: the client must join lines across reads.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, requests, server };
}

/** Runs a client with argv that may hold bytes that are not UTF-8 (through bash's printf). */
function runClient(
  client: readonly string[],
  argv: Chunk[],
  env: Record<string, string>,
): Promise<Expect> {
  const hasBytes = argv.some((word) => typeof word !== "string");
  const args = hasBytes
    ? [
        "-c",
        `exec "$@" ${argv
          .map((word) =>
            typeof word === "string"
              ? `'${word.replaceAll("'", "'\\''")}'`
              : `"$(printf '${[...bytes(word)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")}')"`,
          )
          .join(" ")}`,
        "bash",
        ...client,
      ]
    : [...client.slice(1), ...(argv as string[])];
  const file = hasBytes ? "bash" : (client[0] as string);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${client.join(" ")} did not finish`));
    }, 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code,
      });
    });
  });
}

async function exchange(client: readonly string[], vector: Exchange) {
  const { path, requests, server } = await fakeServer(vector.reply ?? []);
  try {
    const result = await runClient(client, vector.argv, {
      ...vector.env,
      HOOKINIT_SOCKET: path,
    });
    return { result, requests };
  } finally {
    server.close();
  }
}

afterAll(() => {
  if (recording) writeFileSync(VECTORS_FILE, `${JSON.stringify(vectors, null, 1)}\n`);
});

const CLIENTS = recording
  ? ([["TypeScript", TS_CLIENT]] as const)
  : ([
      ["TypeScript", TS_CLIENT],
      ["C", C_CLIENT],
    ] as const);

describe.each(CLIENTS)("the %s client", (_name, client) => {
  it("exists", () => {
    // A client that was not built must fail the run, not skip it.
    expect(existsSync(client.at(-1) as string), `${client.join(" ")}: run npm run build`).toBe(
      true,
    );
  });

  it.concurrent.for(vectors.exchanges)("$name", async (vector, { expect }) => {
    const { result, requests } = await exchange(client, vector);
    // Exactly one request, the one the protocol defines for the command.
    const key =
      vector.argv[0] === "hook"
        ? `hook ${/post/i.test(String(vector.argv[1])) ? "postStart" : "preStop"}`
        : String(vector.argv[0]);
    expect(requests).toEqual([vectors.requests[key]]);
    if (recording) {
      vector.expect = result;
      return;
    }
    expect(result).toEqual(vector.expect);
  });

  it.concurrent.for(vectors.usage)("usage: $name", async (vector, { expect }) => {
    const { result, requests } = await exchange(client, vector);
    expect(requests).toEqual([]);
    if (recording) {
      vector.expect = result;
      return;
    }
    expect(result).toEqual(vector.expect);
  });
});
