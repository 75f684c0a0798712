import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * Where the control socket lives when --socket/HOOKINIT_SOCKET is not set.
 * The supervisor and every client compute the same list; the C client
 * (native/client.c) mirrors this file, so keep it this small.
 *
 * Why these places: the client runs as `hookinit hook preStop` from an exec
 * handler, with no flags, maybe as a non-root user, maybe with
 * readOnlyRootFilesystem, which in Kubernetes leaves /tmp and /run read-only
 * too. /dev/shm is the one place every runtime mounts writable (tmpfs, 1777;
 * noexec does not matter for a socket). /run and /tmp are for runtimes
 * without it.
 *
 * Why this name: containerd gives all containers of a pod ONE /dev/shm that
 * outlives container restarts, and the kernel reuses namespace ids, so a name
 * made of the mount namespace id alone met leftovers of earlier containers
 * (a root container's 0700 directory blocked a uid-1000 restart: hooks
 * exited 69, the kubelet killed the container, the pod crash-looped). The
 * name is unique to the container's lifetime instead:
 *
 *   M    = digits of readlink("/proc/self/ns/mnt")        "mnt:[4026532841]"
 *   T    = field 22 (starttime, clock ticks since boot) of /proc/1/stat;
 *          fields are counted after the LAST ')' (the comm field may hold
 *          spaces and parens): the text after ") " is field 3 onwards.
 *   NAME = "hookinit-M-T" when both reads succeed, else "hookinit"
 *
 * PID 1 is the container's first process, so T changes with every start of
 * the container, and M tells apart containers that start in the same tick.
 * When hookinit is not PID 1 (a subreaper under tini, sh or a test harness)
 * it still reads /proc/1/stat, not its own start time: that is what a client
 * can read without knowing the supervisor's pid, and the container still
 * ends when its PID 1 does. Two supervisors in one mount namespace and one
 * PID 1 (nested, or on a host without namespaces) need --socket to tell
 * clients apart. With a pod-wide pid namespace (shareProcessNamespace) PID 1
 * is the pause process: T is fixed for the pod and only M changes, so a
 * reused M can meet a SIGKILLed predecessor's directory; the suffixes and the
 * peer check below pass over it. Without /proc every container computes
 * "hookinit", and the same two mechanisms keep containers apart.
 *
 * Candidates, in order (12):
 *
 *   for BASE in /dev/shm, /run, /tmp:
 *     for k in 0..3:  BASE/NAME (k = 0) or BASE/NAME.k,  + "/control.sock"
 *
 * The supervisor takes the first candidate it can make its own: a 0700
 * directory of its uid that is not a symlink, holding no socket or a socket
 * of its uid that nobody answers (stale: replaced). Anything else (another
 * uid's directory, a file, a symlink, a live socket) is left alone, and the
 * next candidate is tried, so a leftover can never decide the outcome.
 *
 * A client connects to each candidate in order and keeps the first whose
 * server is in its own container (see `isOwnSupervisor`), retrying the pass
 * while the supervisor starts. An explicit --socket is used as given, with
 * no peer check (a sidecar may mean to call another container's hooks).
 */
export const SOCKET_BASES = ["/dev/shm", "/run", "/tmp"] as const;
/** Names per base: NAME, NAME.1, NAME.2, NAME.3. */
export const SOCKET_SUFFIXES = 4;
export const SOCKET_FILE = "control.sock";

/** Reports an error nobody expects (not ENOENT, EACCES...); the caller decides where it goes. */
export type Debug = (error: unknown, what: string) => void;

/** Error codes that just mean "/proc is not there, or not for us". */
const PROC_ABSENT = new Set(["ENOENT", "EACCES", "EPERM", "ENOTDIR", "ESRCH"]);

function procRead<T>(read: () => T, what: string, debug: Debug | undefined): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!PROC_ABSENT.has((error as NodeJS.ErrnoException).code ?? "")) debug?.(error, what);
    return undefined;
  }
}

/** The mount namespace id of `pid` ("self" by default): "4026532841", or undefined without /proc. */
export function mountNamespaceId(pid: number | "self" = "self", debug?: Debug): string | undefined {
  const link = procRead(() => readlinkSync(`/proc/${pid}/ns/mnt`), `/proc/${pid}/ns/mnt`, debug);
  return link === undefined ? undefined : /\[(\d+)\]/.exec(link)?.[1];
}

/** Field 22 of /proc/1/stat: when PID 1 started, in clock ticks since boot. */
export function pid1StartTime(debug?: Debug): string | undefined {
  const stat = procRead(() => readFileSync("/proc/1/stat", "latin1"), "/proc/1/stat", debug);
  if (stat === undefined) return undefined;
  const afterComm = stat.slice(stat.lastIndexOf(")") + 2);
  const value = afterComm.split(" ")[22 - 3];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

export function socketDirName(debug?: Debug): string {
  const mntns = mountNamespaceId("self", debug);
  const started = pid1StartTime(debug);
  return mntns !== undefined && started !== undefined ? `hookinit-${mntns}-${started}` : "hookinit";
}

/** The 12 default socket paths, in the order both sides try them. */
export function candidateSocketPaths(debug?: Debug): string[] {
  const name = socketDirName(debug);
  const paths: string[] = [];
  for (const base of SOCKET_BASES)
    for (let k = 0; k < SOCKET_SUFFIXES; k++)
      paths.push(join(base, k === 0 ? name : `${name}.${k}`, SOCKET_FILE));
  return paths;
}

/**
 * Whether the server at the other end of a connection (its SO_PEERCRED pid)
 * is this container's supervisor. Only positive evidence rejects it:
 * - pid 0: the kernel could not map the server's pid into our pid namespace,
 *   so it lives in another container (a sibling sharing /dev/shm);
 * - another mount namespace than ours (a sibling sharing our pid namespace,
 *   as with shareProcessNamespace).
 * When /proc cannot tell (no /proc, or the server's entry is not readable by
 * us), the connection is kept: the server's own uid check still applies.
 */
export function isOwnSupervisor(peerPid: number, debug?: Debug): boolean {
  if (peerPid === 0) return false;
  const ours = mountNamespaceId("self", debug);
  const theirs = mountNamespaceId(peerPid, debug);
  return ours === undefined || theirs === undefined || ours === theirs;
}
