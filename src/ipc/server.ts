import { chmodSync, lstatSync, mkdirSync, rmdirSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { HookName, OutputSubscriber, ResultEvent, Status } from "../core/hooks.js";
import type { Logger } from "../log/logger.js";
import {
  encode,
  MAX_REQUEST_BYTES,
  ProtocolError,
  parseRequest,
  type ServerEvent,
} from "./protocol.js";
import { candidateSocketPaths } from "./socket-path.js";

/** What the supervisor answers requests with. */
export interface ControlHandlers {
  /**
   * Joins (or starts) a run of the hook. Resolves with the run's result,
   * also when the hook cannot run (then with an `error`); a throw is a bug
   * and reaches the caller as an `internal` error.
   */
  hook(name: HookName, subscriber: OutputSubscriber): Promise<ResultEvent>;
  status(): Status;
  /** Who may call: the peer's uid. */
  allowed(peerUid: number | undefined): boolean;
  peerUid(socket: Socket): number | undefined;
}

/** A client that connects and sends nothing is dropped after this long. */
const REQUEST_TIMEOUT_MS = 5000;
/** Output queued for one caller beyond which it is disconnected. */
const MAX_QUEUED_PER_CLIENT = 4 * 1024 * 1024;
/** More than this many clients at once are turned away by the kernel backlog and Node. */
const MAX_CONNECTIONS = 1024;

export class ControlServer {
  private closed = false;
  private readonly onExit = () => this.close();

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly log: Logger,
    /** The directory is ours (a default place) and goes when we do. */
    private readonly ownsDirectory: boolean,
  ) {
    process.once("exit", this.onExit);
  }

  /**
   * Listens on the explicit path, or on the first default place we can make
   * ours (see socket-path.ts for the order and why). Owner-only: the
   * directory is 0700 and the socket 0600.
   */
  static async listen(
    explicit: string | undefined,
    handlers: ControlHandlers,
    log: Logger,
  ): Promise<ControlServer> {
    const debug = (error: unknown, what: string) =>
      log.debug({ err: error, what }, "control socket: unexpected error (ignored)");
    const candidates = explicit === undefined ? candidateSocketPaths(debug) : [explicit];
    const problems: string[] = [];
    for (const path of candidates) {
      let made = false;
      try {
        made = await prepareSocketPath(path, explicit !== undefined);
        const server = await listenOn(path, handlers, log);
        if (problems.length > 0)
          log.warn(
            { socket: path, skipped: problems },
            "control socket: first choices were unusable (left alone)",
          );
        return new ControlServer(server, path, log, explicit === undefined);
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message}`);
        // A directory we made for a socket we could not bind goes again.
        if (made) removeQuietly(dirname(path), log);
      }
    }
    throw new Error(`cannot create the control socket (${problems.join("; ")})`);
  }

  /**
   * Removes the socket and, at a default place, its directory. Safe to call
   * twice. Also runs from process.on("exit"), so any exit that goes through
   * Node (the program's exit, an error after start-up, process.exit) leaves
   * nothing in /dev/shm; only SIGKILL or a crash of the process itself can.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.off("exit", this.onExit);
    // server.close() already unlinks the socket file (libuv does, for a pipe
    // it bound); unlinking again is for a server that never got that far.
    this.server.close();
    removeQuietly(this.path, this.log);
    if (this.ownsDirectory) removeQuietly(dirname(this.path), this.log);
    this.log.debug({ path: this.path }, "control socket closed");
  }
}

/**
 * unlink or rmdir that expects the entry to be gone already (ENOENT) and
 * reports anything else at debug level: an empty catch here once hid that
 * the directory was never removed.
 */
function removeQuietly(path: string, log: Logger): void {
  try {
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) rmdirSync(path);
    else unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT")
      log.debug({ err: error, path }, "control socket: could not remove");
  }
}

/**
 * Makes sure `path` can be ours: its directory exists, is a real directory
 * (not a symlink), belongs to us and is not open to others; a socket file
 * left by an earlier run of our uid that nobody answers on is removed (so a
 * stale directory of ours is taken over). A live socket, or anything of
 * another uid, is left alone: the caller tries the next place. Returns
 * whether the directory was made here.
 */
async function prepareSocketPath(path: string, explicit: boolean): Promise<boolean> {
  const dir = dirname(path);
  // An explicit path's directories are the user's: never ours to remove.
  let made = false;
  if (explicit) makeDirectories(dir);
  else made = makeDirectory(dir);
  const dirStat = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (dirStat.isSymbolicLink()) throw new Error(`${dir} is a symlink; refusing to use it`);
  if (!dirStat.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (!explicit) {
    if (dirStat.uid !== uid)
      throw new Error(`${dir} belongs to uid ${dirStat.uid}, not to us (uid ${uid})`);
    if ((dirStat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  }

  const fileStat = lstatSync(path, { throwIfNoEntry: false });
  if (fileStat === undefined) return made; // Nothing there: good.
  if (!fileStat.isSocket())
    throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (fileStat.uid !== uid)
    throw new Error(`${path} belongs to uid ${fileStat.uid}; refusing to replace it`);
  if (await somebodyListens(path))
    throw new Error(`another hookinit is already listening on ${path}; leaving it alone`);
  unlinkSync(path); // Stale: left by a run that was killed.
  return made;
}

/** mkdir 0700; returns false when it already existed. */
function makeDirectory(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return false;
  }
}

/**
 * mkdir -p with 0700 for what it creates. Not Node's recursive mkdir: that
 * loops forever where the kernel answers ENOENT under an existing parent, as
 * /proc does, and PID 1 would hang before the program starts.
 */
function makeDirectories(dir: string): void {
  try {
    makeDirectory(dir);
  } catch (error) {
    const parent = dirname(dir);
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === dir) throw error;
    makeDirectories(parent);
    makeDirectory(dir); // ENOENT again: the parent cannot hold it; give up.
  }
}

/**
 * Whether a server answers on `path`. Only ECONNREFUSED (a socket file with
 * no listener) and ENOENT (gone meanwhile) say "stale"; any other answer
 * (EAGAIN from a full backlog, ...) counts as alive, so it is left alone.
 */
function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code !== "ECONNREFUSED" && error.code !== "ENOENT"),
    );
  });
}

function listenOn(path: string, handlers: ControlHandlers, log: Logger): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => serve(socket, handlers, log));
    server.maxConnections = MAX_CONNECTIONS;
    server.once("error", reject);
    // bind(2) runs inside listen(): a umask of 0177 makes the socket 0600
    // from the first instant, with no window before the chmod.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off("error", reject);
        server.on("error", (error) => log.warn({ err: error }, "control socket error"));
        resolve(server);
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
  });
}

/** One connection: read one request line, answer, close. Never throws. */
function serve(socket: Socket, handlers: ControlHandlers, log: Logger): void {
  // A client that vanished (ECONNRESET, EPIPE) is not our problem.
  socket.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "ECONNRESET" && error.code !== "EPIPE")
      log.debug({ err: error }, "control socket: connection error");
  });
  const reply = (event: ServerEvent) => {
    if (!socket.destroyed) socket.end(encode(event));
  };

  const uid = handlers.peerUid(socket);
  if (!handlers.allowed(uid)) {
    log.warn({ peerUid: uid }, "control socket: refused a caller with another uid");
    reply({ type: "error", code: "refused", message: `uid ${uid} may not call this supervisor` });
    return;
  }

  let buffered = "";
  let answered = false;
  socket.setEncoding("utf8");
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
    if (!answered) socket.destroy();
  });

  const badRequest = (message: string) => {
    answered = true;
    log.debug({ message }, "control socket: bad request");
    reply({ type: "error", code: "bad_request", message });
  };

  socket.on("data", (chunk: string) => {
    if (answered) return;
    buffered += chunk;
    const newline = buffered.indexOf("\n");
    const request = newline === -1 ? buffered : buffered.slice(0, newline);
    if (Buffer.byteLength(request) > MAX_REQUEST_BYTES) {
      badRequest(`request over ${MAX_REQUEST_BYTES} bytes`);
      return;
    }
    if (newline === -1) return;
    answered = true;
    socket.setTimeout(0);
    void answer(buffered.slice(0, newline), socket, handlers, reply, log);
  });
  socket.on("end", () => {
    if (!answered) badRequest("connection closed before a complete request line");
  });
}

async function answer(
  line: string,
  socket: Socket,
  handlers: ControlHandlers,
  reply: (event: ServerEvent) => void,
  log: Logger,
): Promise<void> {
  try {
    const request = parseRequest(line);
    if (request.op === "status") {
      reply({ type: "status", ...handlers.status() });
      return;
    }
    const subscriber: OutputSubscriber = {
      send: (events) => {
        if (socket.destroyed) return true;
        // A caller that stopped reading must not hold the hook (and with it
        // the stop signal) for everyone: past this much queued, it is cut off.
        // The container log still gets every line.
        if (socket.writableLength > MAX_QUEUED_PER_CLIENT) {
          log.warn(
            { queuedBytes: socket.writableLength },
            "control socket: a hook caller stopped reading; disconnected it",
          );
          socket.destroy();
          return true;
        }
        return socket.write(events.map(encode).join(""));
      },
      drained: () =>
        socket.destroyed || !socket.writableNeedDrain
          ? Promise.resolve()
          : new Promise((resolve) => {
              socket.once("drain", resolve);
              socket.once("close", resolve);
            }),
    };
    reply(await handlers.hook(request.hook, subscriber));
  } catch (error) {
    if (error instanceof ProtocolError) {
      log.debug({ code: error.code, message: error.message }, "control socket: request refused");
      reply({ type: "error", code: error.code, message: error.message });
      return;
    }
    log.error({ err: error }, "control socket: internal error answering a request");
    reply({
      type: "error",
      code: "internal",
      message: `internal error: ${(error as Error).message}`,
    });
  }
}
