import type { Readable } from "node:stream";
import { EXIT, signalExitCode } from "../core/exit-codes.js";
import type { OutputStream } from "../core/hooks.js";
import type { Handler } from "./config.js";
import { type Line, LineSplitter } from "./lines.js";

/** Why a handler was stopped early. */
export type AbortReason = "timeout" | "grace";

export interface HandlerContext {
  /** Aborted with an AbortReason when the hook's timeout or the grace budget runs out. */
  signal: AbortSignal;
  /** Lines of output, in order. Returns false when the consumers are backed up. */
  output(stream: OutputStream, lines: readonly Line[]): boolean;
  /** Resolves when the consumers have drained. */
  drained(): Promise<void>;
  /**
   * Runs a libuv spawn (`start` forks synchronously) so that the reaper
   * leaves the child to libuv, even if it exits at once.
   */
  spawn<T extends { pid?: number | undefined }>(start: () => T): T;
  exited(pid: number): void;
  /** Reports an error a handler passed over although it was not one it expects. */
  debug?(error: unknown, what: string): void;
}

export interface HandlerResult {
  /** 0 is success. exec: the command's code, 128+N for signal N. Others: 0 or 1. */
  exitCode: number;
  /** Why it failed, in words, when it did. */
  error?: string;
}

/**
 * After an exec handler exits, how long we keep reading its output. A
 * background process it left behind may hold the pipe open forever; we stop
 * waiting rather than hang the hook (containerd has the same problem with
 * exec'd processes that leave children holding their stdout).
 */
const LINGER_AFTER_EXIT_MS = 1000;
const EXIT_POLL_MS = 200;

export function runHandler(handler: Handler, context: HandlerContext): Promise<HandlerResult> {
  switch (handler.type) {
    case "exec":
      return runExec(handler.command, context);
    case "httpGet":
      return runHttpGet(handler, context);
    case "tcpSocket":
      return runTcpSocket(handler, context);
    case "sleep":
      return runSleep(handler.seconds, context);
  }
}

function abortedResult(signal: AbortSignal): HandlerResult {
  return {
    exitCode: EXIT.TIMED_OUT,
    error: signal.reason === "grace" ? "stopped: the grace period ran out" : "timed out",
  };
}

/**
 * exec: argv as given, no shell, no stdin, our environment, user and working
 * directory (which are the program's). Its own session, so a timeout kills
 * everything it started. execa is loaded on first use: it is the heaviest
 * module we have and most containers never run an exec hook.
 */
async function runExec(
  command: readonly string[],
  context: HandlerContext,
): Promise<HandlerResult> {
  const { execa } = await import("execa");
  const [file = "", ...args] = command;
  const subprocess = context.spawn(() =>
    execa(file, args, {
      stdin: "ignore",
      buffer: false,
      encoding: "buffer",
      detached: true,
      // A supervisor decides itself when to kill: execa's defaults would
      // SIGKILL 5 s after any kill() and kill handlers when we exit.
      cleanup: false,
      forceKillAfterDelay: false,
      reject: false,
    }),
  );
  const pid = subprocess.pid;

  const onAbort = () => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch (error) {
      // ESRCH: the group is already gone.
      if ((error as NodeJS.ErrnoException).code !== "ESRCH")
        context.debug?.(error, "SIGKILL to the handler's process group");
    }
  };
  context.signal.addEventListener("abort", onAbort, { once: true });

  const pipes = [
    pipeLines(subprocess.stdout, "stdout", context),
    pipeLines(subprocess.stderr, "stderr", context),
  ];
  const stopLingering = pid === undefined ? () => {} : lingerAfterExit(pid, pipes, context.debug);

  const result = await subprocess;
  await Promise.all(pipes.map((pipe) => pipe.done));
  stopLingering();
  context.signal.removeEventListener("abort", onAbort);
  if (pid !== undefined) context.exited(pid);

  if (context.signal.aborted) return abortedResult(context.signal);
  if (result.exitCode !== undefined) {
    return result.exitCode === 0
      ? { exitCode: 0 }
      : { exitCode: result.exitCode, error: `exited with code ${result.exitCode}` };
  }
  if (result.signal !== undefined) {
    const { constants } = await import("node:os");
    return {
      exitCode: signalExitCode(constants.signals[result.signal]),
      error: `killed by ${result.signal}`,
    };
  }
  // Spawn failed: ENOENT and EACCES as a shell would report them.
  const code = (result as { code?: string }).code;
  return {
    exitCode: code === "ENOENT" ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE,
    error: `cannot run ${file}: ${result.originalMessage ?? result.shortMessage}`,
  };
}

/**
 * execa resolves only when the pipes close too. Once the handler itself is
 * gone (libuv reaped it: kill(pid, 0) says ESRCH), a pipe that stays quiet
 * for LINGER_AFTER_EXIT_MS is held open by a background process the handler
 * left behind: stop reading it so the hook cannot hang. Time spent paused for
 * backpressure (a slow log reader) never counts as quiet, so no line is lost.
 */
function lingerAfterExit(
  pid: number,
  pipes: LinePipe[],
  debug: HandlerContext["debug"],
): () => void {
  let exited = false;
  const poll = setInterval(() => {
    if (!exited) {
      try {
        process.kill(pid, 0);
        return;
      } catch (error) {
        // ESRCH: reaped. EPERM: the pid already belongs to another user's
        // process, so ours is gone too.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "ESRCH" && code !== "EPERM") debug?.(error, "kill(handler, 0)");
        exited = true;
      }
    }
    for (const pipe of pipes) if (pipe.quietMs() >= LINGER_AFTER_EXIT_MS) pipe.stop();
  }, EXIT_POLL_MS);
  return () => clearInterval(poll);
}

interface LinePipe {
  /** Resolves when the stream ended or was stopped, all lines delivered. */
  done: Promise<void>;
  /** How long the stream has been flowing with no data; 0 while paused or ended. */
  quietMs(): number;
  stop(): void;
}

/** Feeds a stream into context.output line by line, pausing while consumers are backed up. */
function pipeLines(stream: Readable | null, name: OutputStream, context: HandlerContext): LinePipe {
  if (stream === null) return { done: Promise.resolve(), quietMs: () => 0, stop: () => {} };
  const splitter = new LineSplitter();
  let lastData = Date.now();
  let paused = false;
  let ended = false;
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      if (ended) return;
      ended = true;
      const last = splitter.end();
      if (last.length > 0) context.output(name, last);
      resolve();
    };
    stream.on("data", (chunk: Buffer) => {
      lastData = Date.now();
      const lines = splitter.push(chunk);
      if (lines.length > 0 && !context.output(name, lines)) {
        paused = true;
        stream.pause();
        void context.drained().then(() => {
          paused = false;
          lastData = Date.now();
          stream.resume();
        });
      }
    });
    stream.once("end", finish);
    stream.once("close", finish);
    stream.once("error", finish);
  });
  return {
    done,
    quietMs: () => (paused || ended ? 0 : Date.now() - lastData),
    stop: () => stream.destroy(),
  };
}

/**
 * httpGet from inside the container (default host 127.0.0.1). Success is a
 * status from 200 to 399, as for probes. The kubelet ignores the status of
 * a hook's response entirely (kubernetes#56963); we do not, so a drain
 * endpoint that answers 500 fails the hook visibly. Certificates are not
 * verified, as the kubelet does not verify them for hooks and probes. As
 * the kubelet does (pkg/kubelet/lifecycle/handlers.go, since hooks began to
 * honour `scheme`), an HTTPS request that a plain-HTTP server answers is
 * sent once more over HTTP, without the Authorization header.
 */
async function runHttpGet(
  handler: Extract<Handler, { type: "httpGet" }>,
  context: HandlerContext,
): Promise<HandlerResult> {
  const headers: Record<string, string> = { "User-Agent": "hookinit" };
  for (const { name, value } of handler.headers) headers[name] = value;
  const first = await httpRequest(handler, handler.scheme, headers, context);
  if (!first.plainHttpAnswer) return first.result;
  context.output("stderr", [
    {
      text: `${first.url}: the server answered in plain HTTP; retrying over HTTP without the Authorization header, as the kubelet does`,
      partial: false,
    },
  ]);
  const withoutAuthorization = Object.fromEntries(
    Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"),
  );
  return (await httpRequest(handler, "HTTP", withoutAuthorization, context)).result;
}

async function httpRequest(
  handler: Extract<Handler, { type: "httpGet" }>,
  scheme: "HTTP" | "HTTPS",
  headers: Record<string, string>,
  context: HandlerContext,
): Promise<{ result: HandlerResult; url: string; plainHttpAnswer: boolean }> {
  const http = scheme === "HTTPS" ? await import("node:https") : await import("node:http");
  const hostForUrl = handler.host.includes(":") ? `[${handler.host}]` : handler.host;
  const url = `${scheme.toLowerCase()}://${hostForUrl}:${handler.port}${handler.path}`;
  const done = (result: HandlerResult, plainHttpAnswer = false) => ({
    result,
    url,
    plainHttpAnswer,
  });

  return new Promise((resolve) => {
    const request = http.request(
      {
        host: handler.host,
        port: handler.port,
        path: handler.path,
        method: "GET",
        headers,
        agent: false,
        rejectUnauthorized: false,
        signal: context.signal,
      },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        const line = `GET ${url} -> ${status} ${response.statusMessage ?? ""}`.trimEnd();
        const ok = status >= 200 && status <= 399;
        context.output(ok ? "stdout" : "stderr", [{ text: line, partial: false }]);
        const result: HandlerResult = ok
          ? { exitCode: 0 }
          : { exitCode: EXIT.FAILURE, error: `HTTP ${status}` };
        response.once("end", () => resolve(done(result)));
        response.once("error", () => resolve(done(result)));
      },
    );
    request.once("error", (error: NodeJS.ErrnoException) => {
      if (context.signal.aborted) return resolve(done(abortedResult(context.signal)));
      // An HTTP response where a TLS record should be: OpenSSL's (Node) or
      // BoringSSL's (Bun) "wrong version number".
      if (
        scheme === "HTTPS" &&
        (error.code === "ERR_SSL_WRONG_VERSION_NUMBER" ||
          /wrong[ _]version[ _]number/i.test(error.message))
      ) {
        return resolve(done({ exitCode: EXIT.FAILURE, error: "plain HTTP answer" }, true));
      }
      const reason = `GET ${url} failed: ${error.code ?? error.message}`;
      context.output("stderr", [{ text: reason, partial: false }]);
      resolve(done({ exitCode: EXIT.FAILURE, error: reason }));
    });
    request.end();
  });
}

/**
 * tcpSocket succeeds when a connection opens. (The kubelet fails every
 * tcpSocket hook as unsupported; this is one reason hookinit exists.)
 */
async function runTcpSocket(
  handler: Extract<Handler, { type: "tcpSocket" }>,
  context: HandlerContext,
): Promise<HandlerResult> {
  const net = await import("node:net");
  const target = `${handler.host}:${handler.port}`;
  return new Promise((resolve) => {
    const socket = net.connect({ host: handler.host, port: handler.port, signal: context.signal });
    socket.once("connect", () => {
      socket.destroy();
      context.output("stdout", [{ text: `connected to ${target}`, partial: false }]);
      resolve({ exitCode: 0 });
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (context.signal.aborted) return resolve(abortedResult(context.signal));
      const reason = `connect to ${target} failed: ${error.code ?? error.message}`;
      context.output("stderr", [{ text: reason, partial: false }]);
      resolve({ exitCode: EXIT.FAILURE, error: reason });
    });
  });
}

/** sleep waits; the end of the grace budget cuts it short, which is not a failure. */
function runSleep(seconds: number, context: HandlerContext): Promise<HandlerResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      context.signal.removeEventListener("abort", onAbort);
      resolve({ exitCode: 0 });
    }, seconds * 1000);
    const onAbort = () => {
      clearTimeout(timer);
      if (context.signal.reason === "grace") {
        context.output("stdout", [
          { text: "sleep cut short by the end of the grace period", partial: false },
        ]);
        resolve({ exitCode: 0 });
      } else {
        resolve(abortedResult(context.signal));
      }
    };
    if (context.signal.aborted) return onAbort();
    context.signal.addEventListener("abort", onAbort, { once: true });
  });
}
