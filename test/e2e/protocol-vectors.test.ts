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
import fc from "fast-check";
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

// ---- random replies: the two clients must agree on every one ---------------

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("", "\n", "\u0000", "\ud800", "\udc00x", "é", "😀", "\u2028", '"', "\\"),
);
const event = fc.oneof(
  fc.record({
    type: fc.constant("output"),
    stream: fc.constantFrom("stdout", "stderr", "other"),
    line: fc.oneof(text, fc.integer()),
    partial: fc.option(fc.oneof(fc.boolean(), fc.constant("yes")), { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("result"),
    hook: fc.constant("preStop"),
    exitCode: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double(), fc.constant("0")),
    error: fc.option(fc.oneof(text, fc.integer()), { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("error"),
    code: fc.constantFrom("refused", "internal", "bad_request", "not_configured", 7),
    message: fc.oneof(text, fc.constant(null)),
  }),
  fc.record({
    type: fc.constant("status"),
    ready: fc.oneof(fc.boolean(), fc.constant("true"), fc.constant(1)),
    phase: fc.oneof(text, fc.integer()),
    hooks: fc.oneof(
      fc.record({ postStart: fc.record({ state: fc.oneof(text, fc.constant(null)) }) }),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    extra: fc.jsonValue({ maxDepth: 3 }),
  }),
  fc.jsonValue({ maxDepth: 3 }),
);
/** One line: a JSON event, maybe damaged; or raw bytes. */
const line = fc.oneof(
  { weight: 5, arbitrary: event.map((value) => Buffer.from(`${JSON.stringify(value)}\n`)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(event, fc.nat(), fc.constantFrom("", "x", "}", '"', ",", "\\", "\u00ff"))
      .map(([value, at, insert]) => {
        const json = JSON.stringify(value) ?? "null";
        const i = at % (json.length + 1);
        return Buffer.from(`${json.slice(0, i)}${insert}${json.slice(i + 1)}\n`);
      }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }).map((bytes) => Buffer.from(bytes)) },
);
const reply = fc
  .tuple(fc.array(line, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 4 }))
  .map(([lines, cuts]) => {
    // The same bytes, cut into chunks at random places.
    const all = Buffer.concat(lines);
    const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
    const chunks: Chunk[] = [];
    let start = 0;
    for (const point of [...points, all.length]) {
      if (point > start) chunks.push({ hex: all.subarray(start, point).toString("hex") });
      start = point;
    }
    return chunks;
  });
const commands = fc.constantFrom<Chunk[]>(["hook", "preStop"], ["status"], ["ready"]);

describe("random replies (seeded)", () => {
  const cases = fc.sample(fc.tuple(commands, reply), { numRuns: 60, seed: SEED });
  it.skipIf(recording).concurrent.for(cases.map((c, i) => [i, ...c] as const))(
    "case %i: the C client prints and exits as the TypeScript client",
    async ([, argv, chunks], { expect }) => {
      const vector: Exchange = { name: "random", argv, reply: chunks };
      const [c, ts] = await Promise.all([exchange(C_CLIENT, vector), exchange(TS_CLIENT, vector)]);
      expect(c.requests).toEqual(ts.requests);
      expect(c.result, `seed ${SEED}, reply ${JSON.stringify(chunks)}`).toEqual(ts.result);
    },
  );
});

describe("a long hook output", () => {
  it.skipIf(recording)(
    "3,000 lines up to 16 KiB, both streams: the same bytes from both clients",
    async () => {
      const lines: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const stream = i % 7 === 0 ? "stderr" : "stdout";
        const body = `${i}:${"é😀x".repeat((i * 37) % 4000)}`;
        lines.push(
          `${JSON.stringify({ type: "output", stream, line: body, partial: i % 11 === 0 })}\n`,
        );
      }
      lines.push(
        `${JSON.stringify({ type: "result", hook: "preStop", exitCode: 0, durationMs: 1 })}\n`,
      );
      // In chunks of 64 KiB that cut through lines and characters.
      const all = Buffer.from(lines.join(""));
      const chunks: Chunk[] = [];
      for (let at = 0; at < all.length; at += 65_536) {
        chunks.push({ hex: all.subarray(at, at + 65_536).toString("hex") });
      }
      const vector: Exchange = { name: "long", argv: ["hook", "preStop"], reply: chunks };
      const [c, ts] = await Promise.all([exchange(C_CLIENT, vector), exchange(TS_CLIENT, vector)]);
      expect(ts.result.code).toBe(0);
      expect(ts.result.stdout.length).toBeGreaterThan(1_000_000);
      expect(c.result.code).toBe(ts.result.code);
      expect(c.result.stderr === ts.result.stderr).toBe(true);
      expect(c.result.stdout === ts.result.stdout).toBe(true);
    },
    120_000,
  );
});
