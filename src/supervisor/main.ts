import type { Socket } from "node:net";
import { getSystemErrorName } from "node:util";
import type { HookConfig } from "../hooks/config.js";
import type { ReadyAddress } from "../ipc/ready-address.js";
import {
  createLogOutput,
  type LogFormat,
  type Logger,
  type LogLevel,
  lastResort,
} from "../log/logger.js";
import { loadNativeHelper, type NativeHelper, type ReapedChild } from "../native/helper.js";
import { spawnProgram } from "./program.js";
import { Reaper } from "./reaper.js";
import {
  FORWARDED_SIGNALS,
  parseSignal,
  type RewriteTable,
  RUNTIME_DEAF_SIGNALS,
  type SignalName,
  signalName,
  signalNumber,
} from "./signals.js";
import { Supervisor } from "./supervisor.js";

/** What `hookinit [OPTIONS] -- COMMAND` asks for, parsed and checked (see src/cli/options.ts). */
export interface SuperviseOptions {
  command: string[];
  config: string | undefined;
  /** The configuration text itself, and where it came from (named in errors). */
  configInline: { text: string; source: string } | undefined;
  container: string | undefined;
  socket: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Undefined when neither the flag nor the variable set it: the manifest's terminationGracePeriodSeconds, else 30. */
  graceSeconds: number | undefined;
  rewrites: RewriteTable;
  singleChild: boolean;
  /** Undefined when neither the flag nor the variable set it: the config's lifecycle.stopSignal, else SIGTERM. */
  stopSignal: SignalName | undefined;
  /** Where to serve GET /ready over HTTP; undefined: nowhere (the default). */
  readyAddress: ReadyAddress | undefined;
}

/** Kubernetes' default terminationGracePeriodSeconds. */
const DEFAULT_GRACE_SECONDS = 30;

const TERMINAL_STOP_SIGNALS: readonly SignalName[] = ["SIGTTIN", "SIGTTOU"];

/**
 * hookinit as PID 1, top to bottom. Returns the exit code: the program's,
 * or 128+N when signal N killed it. Throws only before the program runs.
 */
export async function supervise(options: SuperviseOptions): Promise<number> {
  // Configuration errors stop us before the program starts (exit 2). YAML
  // and the schema library load only when there is a config to read.
  // The inline form (what `hookinit inject` writes into a manifest) goes
  // through the same parser and validator as a file.
  const hooks: HookConfig =
    options.configInline !== undefined
      ? (await import("../hooks/config.js")).parseConfig(
          options.configInline.text,
          options.configInline.source,
          options.container,
        )
      : options.config === undefined
        ? {}
        : (await import("../hooks/config.js")).loadConfig(options.config, options.container);

  // The signal that starts the stop sequence: --stop-signal, else the
  // config's lifecycle.stopSignal (what the kubelet would send), else SIGTERM.
  const stopSignal =
    options.stopSignal ??
    (hooks.stopSignal === undefined ? undefined : parseSignal(hooks.stopSignal)) ??
    "SIGTERM";
  // The stop budget: --grace, else a manifest's terminationGracePeriodSeconds
  // (the kubelet's budget for the same stop), else Kubernetes' default 30 s.
  const graceSeconds = options.graceSeconds ?? hooks.graceSeconds ?? DEFAULT_GRACE_SECONDS;

  // The native helper spawns the program and reaps; without it we cannot be
  // an init, so its absence is a start-up error, not something to limp past.
  const native = loadNativeHelper();

  // Not PID 1 (e.g. `docker run --init=false` with a shell as PID 1, or a
  // test harness): become a child subreaper so orphans still come to us.
  const isPid1 = process.pid === 1;
  if (!isPid1) native.setSubreaper();

  // Listen for every signal before the program exists. As PID 1 a signal
  // without a handler is dropped by the kernel, and Node's own defaults would
  // swallow SIGTERM or open the inspector on SIGUSR1. Signals that arrive
  // before the supervisor exists are queued, not lost.
  const onTerminal = native.isatty(0);
  const early: SignalName[] = [];
  let deliver: (signal: SignalName) => void = (signal) => early.push(signal);
  if (onTerminal) native.ignoreTerminalStops();
  const inHelper = RUNTIME_DEAF_SIGNALS.filter((signal) => FORWARDED_SIGNALS.includes(signal));
  for (const signal of FORWARDED_SIGNALS) {
    if (onTerminal && TERMINAL_STOP_SIGNALS.includes(signal)) continue;
    if (inHelper.includes(signal)) continue;
    process.on(signal, () => deliver(signal));
  }
  if (inHelper.length > 0) {
    native.catchSignals(inHelper.map(signalNumber), (number) => {
      const signal = signalName(number);
      if (signal !== undefined) deliver(signal);
    });
  }
  native.guardFaultSignals();
  native.unblockSignals(FORWARDED_SIGNALS.map(signalNumber));

  // The HTTP readiness endpoint binds before the program starts, so a bad or
  // taken address is a configuration error (exit 2), never a pod that runs
  // and fails every probe. node:http loads only when it is asked for.
  let supervisorForProbe: Supervisor | undefined;
  const readyServer =
    options.readyAddress === undefined
      ? undefined
      : await (await import("../ipc/ready-http.js")).listenReady(
          options.readyAddress,
          () => supervisorForProbe?.status().ready === true,
        );

  const pid = spawnProgram(native, options.command, process.env, onTerminal);

  // Reap from this instant: a program that starts an orphan storm right away
  // must not pile up zombies while the rest of start-up (pino, the config's
  // hooks, the socket) happens. Its own exit waits for the supervisor.
  const reaper = new Reaper(native);
  let earlyExit: ReapedChild | undefined;
  let onProgramExit = (child: ReapedChild) => {
    earlyExit = child;
  };
  reaper.watch(pid, (child) => onProgramExit(child));
  const reaping = reaper.start(pid);

  // The program runs: from here on there are no fatal exits. An internal
  // error is reported and we carry on; the report itself must never throw,
  // or Node would treat it as fatal after all.
  const output = await createLogOutput(options.logLevel, options.logFormat);
  const log = output.logger;
  const carryOn = (error: unknown) => {
    try {
      log.error({ err: error }, "internal error (continuing)");
    } catch (logError) {
      // Logging is gone too: stderr is all that is left.
      lastResort(logError);
      lastResort(error);
    }
  };
  process.on("uncaughtException", carryOn);
  process.on("unhandledRejection", carryOn);
  log.info(
    {
      pid,
      command: options.command,
      pid1: isPid1,
      terminal: onTerminal,
      singleChild: options.singleChild,
    },
    "started",
  );
  if (!isPid1) {
    log.info(
      { hookinitPid: process.pid },
      "not running as PID 1: registered as a child subreaper to reap orphans",
    );
  }

  if (reaping.how !== "thread") {
    log.warn({ reason: reaping.why }, "no reaper thread: reaping from the event loop on SIGCHLD");
  }
  const supervisor = new Supervisor(
    pid,
    { ...options, stopSignal, graceSeconds },
    hooks,
    output,
    reaper,
  );
  supervisorForProbe = supervisor;
  if (readyServer !== undefined)
    log.info(
      { address: options.readyAddress?.text, port: readyServer.port },
      "readiness endpoint ready",
    );
  const reportOrphans = setInterval(() => logOrphans(reaper, log), 1000);
  deliver = (signal) => supervisor.onSignal(signal);
  for (const signal of early) deliver(signal);
  supervisor.start();
  onProgramExit = (child) => supervisor.onProgramExit(child);
  if (earlyExit !== undefined) onProgramExit(earlyExit);

  // The control socket: `hookinit hook|status|ready` from exec handlers.
  // Without it hooks still run on signals, so a failure here is logged, not fatal.
  const ownUid = process.getuid?.() ?? 0;
  const { ControlServer } = await import("../ipc/server.js");
  const server = await ControlServer.listen(
    options.socket,
    {
      hook: (name, subscriber) => supervisor.callHook(name, subscriber),
      status: () => supervisor.status(),
      peerUid: (socket) => peerUid(native, socket, log),
      // Only our own uid or root (SO_PEERCRED); the 0700 directory already
      // keeps others out, this holds even if --socket points somewhere shared.
      allowed: (uid) => uid === ownUid || uid === 0,
    },
    log,
  ).then(
    (server) => {
      log.info({ socket: server.path }, "control socket ready");
      return server;
    },
    (error: Error) => {
      log.error({ err: error.message }, "no control socket: hook calls cannot reach us");
      return undefined;
    },
  );

  // Start-up is over: hand the memory it freed back to the kernel. Under
  // Bun, a full collection first: start-up's garbage would otherwise sit in
  // JavaScriptCore's heap until the next allocation-driven one.
  setTimeout(() => {
    const bun = (globalThis as { Bun?: { gc(force: boolean): void; shrink?(): void } }).Bun;
    bun?.gc(true);
    bun?.shrink?.();
    native.trimMemory();
  }, 1000).unref();

  const exitCode = await supervisor.done;
  clearInterval(reportOrphans);
  server?.close();
  readyServer?.close();
  reaper.stop();
  logOrphans(reaper, log);
  log.info({ exitCode }, "exiting");
  await output.flush();
  return exitCode;
}

/** The caller's uid, from SO_PEERCRED; undefined if the kernel would not say. */
function peerUid(native: NativeHelper, socket: Socket, log: Logger): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  try {
    return native.peerCredentials(fd).uid;
  } catch (error) {
    // The caller hung up already (ENOTCONN, EBADF): refused as unknown. The
    // helper's errors carry a positive errno.
    const errno = (error as { errno?: number }).errno;
    const code = errno === undefined ? undefined : getSystemErrorName(-errno);
    if (code !== "ENOTCONN" && code !== "EBADF")
      log.debug({ err: error }, "control socket: SO_PEERCRED failed");
    return undefined;
  }
}

function logOrphans(reaper: Reaper, log: { info(obj: object, msg: string): void }): void {
  const count = reaper.takeOrphanCount();
  if (count > 0) log.info({ count }, "orphans reaped");
}
