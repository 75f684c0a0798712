import { readlinkSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Where the control socket lives when --socket/HOOKINIT_SOCKET is not set.
 *
 * The hook client runs as `hookinit hook preStop` from an exec handler, with
 * no flags, possibly as a non-root user, possibly with readOnlyRootFilesystem.
 * In Kubernetes that setting leaves /tmp and /run read-only too; /dev/shm is
 * the one place every runtime mounts writable (a tmpfs, mode 1777; noexec,
 * which does not matter for a socket). So /dev/shm comes first, then /run
 * and /tmp for runtimes without it.
 *
 * The directory is named after our mount namespace. All containers of a pod
 * share one /dev/shm under containerd, but each has its own mount namespace,
 * and `kubectl exec`, `podman exec` and the kubelet's exec hooks enter it: the
 * client computes the same name, and two containers of a pod never collide.
 */
export const SOCKET_BASES = ["/dev/shm", "/run", "/tmp"] as const;
export const SOCKET_FILE = "control.sock";

export function socketDirName(): string {
  try {
    const ns = readlinkSync("/proc/self/ns/mnt"); // "mnt:[4026532841]"
    const id = /\[(\d+)\]/.exec(ns)?.[1];
    if (id !== undefined) return `hookinit-${id}`;
  } catch {
    // No /proc: fall back to one name per base directory.
  }
  return "hookinit";
}

export function candidateSocketPaths(): string[] {
  const dir = socketDirName();
  return SOCKET_BASES.map((base) => join(base, dir, SOCKET_FILE));
}

export interface SocketSearch {
  path: string | undefined;
  searched: string[];
  /** Candidates we may not look into: they belong to other users. */
  forbidden: { path: string; uid: number }[];
}

/** For the client: the explicit path, or the first candidate that exists. */
export function findSocket(explicit: string | undefined): SocketSearch {
  if (explicit !== undefined) return { path: explicit, searched: [explicit], forbidden: [] };
  const searched = candidateSocketPaths();
  const forbidden: SocketSearch["forbidden"] = [];
  for (const path of searched) {
    try {
      statSync(path);
      return { path, searched, forbidden };
    } catch (error) {
      // The directory is 0700: for another user the socket is invisible, not
      // missing. Say whose it is instead of "no control socket". Name every
      // such place: a stale directory of another user can come first (mount
      // namespace ids are reused), and the supervisor then listens further on.
      if ((error as NodeJS.ErrnoException).code === "EACCES") {
        forbidden.push({
          path,
          uid: statSync(dirname(path), { throwIfNoEntry: false })?.uid ?? -1,
        });
      }
    }
  }
  return { path: undefined, searched, forbidden };
}
