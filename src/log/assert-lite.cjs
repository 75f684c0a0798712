// Stands in for node:assert in the bundle (esbuild alias in scripts/build.mjs).
// sonic-boom and thread-stream require('assert') for one precondition check
// each. Node's assert loads internal/util/colors, which reads process.stderr;
// that creates a stream on fd 2 and puts the pipe hookinit shares with the
// program into O_NONBLOCK mode, so the program's own writes start failing
// with EAGAIN. This keeps the check without touching process.stderr.
function assert(condition, message) {
  if (!condition) throw new Error(typeof message === "string" ? message : "assertion failed");
}
module.exports = assert;
module.exports.ok = assert;
module.exports.strict = assert;
