import { EXIT } from "../core/exit-codes.js";
import type {
  HookName,
  HookRunState,
  OutputEvent,
  OutputStream,
  OutputSubscriber,
  ResultEvent,
} from "../core/hooks.js";
import type { Hook } from "../hooks/config.js";
import { type AbortReason, type HandlerContext, runHandler } from "../hooks/handlers.js";
import type { Line } from "../hooks/lines.js";
import type { LogOutput } from "../log/logger.js";

/** What a joiner replays at most; beyond it, joiners are told output was cut. */
const REPLAY_LIMIT_CHARS = 1024 * 1024;

export interface HookRunDeps {
  log: LogOutput;
  /** Aborted with "grace" when the grace budget is spent. */
  grace: AbortSignal;
  spawn: HandlerContext["spawn"];
  exited(pid: number): void;
}

/**
 * One run of one hook. Every caller of the same hook joins this run: the
 * handler runs once, every caller gets its output and its exit code
 * (the kubelet may deliver a hook more than once; it must run once).
 */
export class HookRun {
  state: HookRunState = "running";
  readonly startedAt = Date.now();
  finishedAt: number | undefined;
  outcome: ResultEvent | undefined;
  readonly done: Promise<ResultEvent>;
  private readonly subscribers = new Set<OutputSubscriber>();
  private readonly replay: OutputEvent[] = [];
  private replayChars = 0;
  private replayTruncated = false;

  constructor(
    readonly hook: Hook,
    readonly trigger: string,
    private readonly deps: HookRunDeps,
  ) {
    this.done = this.execute();
  }

  get name(): HookName {
    return this.hook.name;
  }

  /** Attaches a caller: it gets what was written so far, then the rest live. */
  subscribe(subscriber: OutputSubscriber): () => void {
    if (this.replay.length > 0) subscriber.send(this.replay);
    if (this.replayTruncated) {
      subscriber.send([
        {
          type: "output",
          stream: "stderr",
          line: `hookinit: earlier output of ${this.name} (over ${REPLAY_LIMIT_CHARS} characters) is in the container log only`,
        },
      ]);
    }
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  private async execute(): Promise<ResultEvent> {
    const { log, grace } = this.deps;
    const { handler, timeoutSeconds } = this.hook;
    log.logger.info(
      { hook: this.name, handler: handler.type, trigger: this.trigger, timeoutSeconds },
      "hook started",
    );

    const controller = new AbortController();
    const abort = (reason: AbortReason) => controller.abort(reason);
    const onGrace = () => abort("grace");
    if (grace.aborted) onGrace();
    else grace.addEventListener("abort", onGrace, { once: true });
    const timer =
      timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => abort("timeout"), timeoutSeconds * 1000);

    let exitCode: number;
    let error: string | undefined;
    try {
      ({ exitCode, error } = await runHandler(handler, {
        signal: controller.signal,
        output: (stream, lines) => this.emit(stream, lines),
        drained: () => this.drained(),
        spawn: this.deps.spawn,
        exited: this.deps.exited,
        debug: (thrown, what) =>
          log.logger.debug(
            { err: thrown, hook: this.name, what },
            "hook: unexpected error (ignored)",
          ),
      }));
    } catch (thrown) {
      exitCode = EXIT.FAILURE;
      error = `internal error: ${(thrown as Error).message}`;
    } finally {
      clearTimeout(timer);
      grace.removeEventListener("abort", onGrace);
    }

    this.finishedAt = Date.now();
    this.state = exitCode === 0 ? "succeeded" : "failed";
    const durationMs = this.finishedAt - this.startedAt;
    this.outcome = {
      type: "result",
      hook: this.name,
      exitCode,
      durationMs,
      ...(error !== undefined && { error }),
    };
    const level = exitCode === 0 ? "info" : "warn";
    log.logger[level](
      { hook: this.name, exitCode, durationMs, ...(error !== undefined && { error }) },
      "hook finished",
    );
    this.subscribers.clear();
    return this.outcome;
  }

  /** Lines to the container log and to every caller. False when someone is backed up. */
  private emit(stream: OutputStream, lines: readonly Line[]): boolean {
    const events: OutputEvent[] = [];
    let ok = true;
    for (const line of lines) {
      const partial = line.partial ? { partial: true as const } : undefined;
      ok = this.deps.log.hookOutput(this.name, stream, line.text, line.partial) && ok;
      events.push({ type: "output", stream, line: line.text, ...partial });
    }
    for (const subscriber of this.subscribers) ok = subscriber.send(events) && ok;
    for (const event of events) this.remember(event);
    return ok;
  }

  private remember(event: OutputEvent): void {
    if (this.replayTruncated) return;
    this.replayChars += event.line.length;
    if (this.replayChars > REPLAY_LIMIT_CHARS) {
      this.replayTruncated = true;
      return;
    }
    this.replay.push(event);
  }

  private async drained(): Promise<void> {
    await Promise.all([this.deps.log.drained(), ...[...this.subscribers].map((s) => s.drained())]);
  }
}
