declare const HOOKINIT_VERSION: string | undefined;

/** The release version, set by the build (esbuild `define`); "0.0.0-dev" when run from source. */
export const VERSION = typeof HOOKINIT_VERSION === "string" ? HOOKINIT_VERSION : "0.0.0-dev";
