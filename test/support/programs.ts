/** Small programs (sh scripts) the tests supervise. */

/**
 * A program that waits for SIGTERM and then says whether `marker` exists:
 * "TERM marker=yes" or "TERM marker=no", then exits 0. It prints
 * "program-up" first. `sh -c SCRIPT sh MARKER`.
 */
export function termReporter(marker: string): string[] {
  return [
    "sh",
    "-c",
    [
      `trap 'if [ -e "$1" ]; then echo "TERM marker=yes"; else echo "TERM marker=no"; fi; exit 0' TERM`,
      "echo program-up",
      "sleep 100000 & wait",
    ].join("\n"),
    "sh",
    marker,
  ];
}

/** A program that waits for SIGTERM, then exits 0 (prints "program-up" first). */
export const WAIT_FOR_TERM = [
  "sh",
  "-c",
  "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait",
];
