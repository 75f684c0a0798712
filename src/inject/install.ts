/**
 * `hookinit install DIR`: copies hookinit's own directory into DIR, for an
 * init container that fills an emptyDir shared with the app containers.
 *
 * Atomic: nothing is written in place. When DIR does not exist, the copy is
 * staged next to it and renamed to DIR in one step. When DIR exists (an
 * emptyDir is a mount point, which cannot be renamed over), the copy is
 * staged in a hidden directory inside DIR and each entry is renamed into
 * place, the entry executable last, so whoever finds DIR/hookinit finds
 * everything it needs.
 * Idempotent: an entry whose size, mode and modification time match the
 * source is left alone; a second run changes nothing.
 * Writes nothing outside DIR (and DIR's parent when DIR must be created), so
 * it works as any user and with a read-only root filesystem.
 */
import {
  chmodSync,
  copyFileSync,
  type Dirent,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { hookinitHome } from "../core/home.js";

/** The entry executable's name in the directory: renamed into place last. */
export const ENTRY = "hookinit";
const STAGING_PREFIX = ".hookinit-install-";

export class InstallError extends Error {
  override name = "InstallError";
}

export interface InstallResult {
  dir: string;
  /** Entries (top level) copied or replaced; empty when DIR was up to date. */
  copied: string[];
}

/** Copies `source` (hookinit's own directory by default) into `target`. */
export function install(target: string, source: string = hookinitHome()): InstallResult {
  const from = realpathOrThrow(source, "hookinit's own directory");
  const dir = resolve(target);
  const existing = statSync(dir, { throwIfNoEntry: false });
  if (existing !== undefined && !existing.isDirectory()) {
    throw new InstallError(`install ${target}: it exists and is not a directory`);
  }
  if (existing !== undefined) {
    const real = realpathSync(dir);
    if (real === from || real.startsWith(`${from}${sep}`) || from.startsWith(`${real}${sep}`)) {
      throw new InstallError(
        `install ${target}: that is hookinit's own directory (${from}) or overlaps it`,
      );
    }
  }
  const entries = sourceEntries(from);
  if (entries.length === 0)
    throw new InstallError(`install: hookinit's directory ${from} is empty`);
  return existing === undefined
    ? installFresh(from, dir, entries, target)
    : installInto(from, dir, entries, target);
}

function realpathOrThrow(path: string, what: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    throw new InstallError(
      `install: cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}

/** The top-level entries to copy: everything but hidden files (build locks, staging). */
function sourceEntries(from: string): Dirent[] {
  return readdirSync(from, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith("."))
    .sort(
      (a, b) => Number(a.name === ENTRY) - Number(b.name === ENTRY) || a.name.localeCompare(b.name),
    );
}

/** DIR does not exist: stage a full copy beside it, then one rename. */
function installFresh(from: string, dir: string, entries: Dirent[], target: string): InstallResult {
  const staging = join(dirname(dir), `${STAGING_PREFIX}${basename(dir)}-${process.pid}`);
  try {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { mode: 0o755 });
    for (const entry of entries) copyTree(join(from, entry.name), join(staging, entry.name));
    chmodSync(staging, 0o755);
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // Another installer won the race: finish the job in place.
    if (code === "ENOTEMPTY" || code === "EEXIST") return installInto(from, dir, entries, target);
    throw failure(target, error);
  }
  return { dir, copied: entries.map((e) => e.name) };
}

/** DIR exists (e.g. an emptyDir mount): stage inside it, rename entry by entry. */
function installInto(from: string, dir: string, entries: Dirent[], target: string): InstallResult {
  const stale = entries.filter((entry) => !sameTree(join(from, entry.name), join(dir, entry.name)));
  if (stale.length === 0) return { dir, copied: [] };
  const staging = join(dir, `${STAGING_PREFIX}${process.pid}`);
  try {
    for (const leftover of readdirSync(dir)) {
      if (leftover.startsWith(STAGING_PREFIX))
        rmSync(join(dir, leftover), { recursive: true, force: true });
    }
    mkdirSync(staging, { mode: 0o700 });
    for (const entry of stale) copyTree(join(from, entry.name), join(staging, entry.name));
    for (const entry of stale) {
      const destination = join(dir, entry.name);
      const old = lstatSync(destination, { throwIfNoEntry: false });
      if (old?.isDirectory() && !entry.isDirectory()) rmSync(destination, { recursive: true });
      if (old?.isDirectory() && entry.isDirectory()) {
        // rename() cannot replace a non-empty directory: move the old one aside first.
        renameSync(destination, join(staging, `.old-${entry.name}`));
      }
      renameSync(join(staging, entry.name), destination);
    }
  } catch (error) {
    throw failure(target, error);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { dir, copied: stale.map((e) => e.name) };
}

function failure(target: string, error: unknown): InstallError {
  const { code, path } = error as NodeJS.ErrnoException;
  if (code === undefined) return new InstallError(`install ${target}: ${(error as Error).message}`);
  const hint =
    code === "EACCES" || code === "EPERM" || code === "EROFS"
      ? "; DIR (or its parent, to create it) must be writable by this user"
      : "";
  return new InstallError(`install ${target}: ${code}${path ? ` on ${path}` : ""}${hint}`);
}

function copyTree(from: string, to: string): void {
  const stat = lstatSync(from);
  if (stat.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else if (stat.isDirectory()) {
    mkdirSync(to, { mode: 0o700 });
    for (const name of readdirSync(from)) copyTree(join(from, name), join(to, name));
    chmodSync(to, stat.mode & 0o7777);
    utimesSync(to, stat.atime, stat.mtime);
  } else if (stat.isFile()) {
    copyFileSync(from, to);
    chmodSync(to, stat.mode & 0o7777);
    utimesSync(to, stat.atime, stat.mtime);
  }
}

/** Same type, size, mode and mtime (to the millisecond), recursively; symlinks by target. */
function sameTree(from: string, to: string): boolean {
  const a = lstatSync(from);
  const b = lstatSync(to, { throwIfNoEntry: false });
  if (b === undefined) return false;
  if (a.isSymbolicLink()) return b.isSymbolicLink() && readlinkSync(from) === readlinkSync(to);
  if (a.isDirectory()) {
    if (!b.isDirectory() || !sameMeta(a, b, false)) return false;
    const names = readdirSync(from);
    return names.every((name) => sameTree(join(from, name), join(to, name)));
  }
  return b.isFile() && sameMeta(a, b, true);
}

function sameMeta(a: Stats, b: Stats, file: boolean): boolean {
  const mode = (a.mode & 0o7777) === (b.mode & 0o7777);
  if (!file) return mode;
  // utimes() takes seconds as a double: the copy's mtime can land a few
  // hundred nanoseconds off the source's, across a millisecond boundary.
  return mode && a.size === b.size && Math.abs(a.mtimeMs - b.mtimeMs) < 2;
}

/** For messages: DIR relative to the working directory when shorter. */
export function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== "" && !rel.startsWith("..") && rel.length < path.length ? rel : path;
}
