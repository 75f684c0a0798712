import { EXIT } from "../core/exit-codes.js";
import { VERSION } from "../core/version.js";
import { envName, OPTION_SPECS } from "./options.js";

export function helpText(): string {
  const rows = Object.entries(OPTION_SPECS).map(([name, spec]) => {
    const short = "short" in spec ? `-${spec.short}, ` : "    ";
    const flag = `${short}--${name}${"arg" in spec ? ` ${spec.arg}` : ""}`;
    const extra = "default" in spec ? ` (default ${spec.default})` : "";
    const env =
      name === "help" || name === "version"
        ? ""
        : ` [${envName(name as keyof typeof OPTION_SPECS)}]`;
    return `  ${flag.padEnd(28)} ${spec.help}${extra}${env}`;
  });
  return `hookinit ${VERSION}: a container PID 1 that runs postStart and preStop the same on every runtime

Usage:
  hookinit [OPTIONS] [--] COMMAND [ARG...]   run COMMAND as the supervised program (image ENTRYPOINT)
  hookinit hook postStart|preStop            from a lifecycle exec handler: run that hook in the supervisor
  hookinit status                            print the supervisor's state as JSON
  hookinit ready                             exit 0 only while the program runs and postStart succeeded
  hookinit install DIR                       copy the hookinit directory into DIR (for an init container)
  hookinit inject [OPTIONS] [FILE...|-]      rewrite workload manifests to run under hookinit without
                                             rebuilding images (hookinit inject --help)
  hookinit webhook [OPTIONS]                 the same as a mutating admission webhook (hookinit webhook --help)
  hookinit --help | --version

Options (each also settable as the environment variable in brackets):
${rows.join("\n")}

Exit codes:
  the program's own; 128+N when signal N killed it; ${EXIT.NOT_FOUND} command not found;
  ${EXIT.NOT_EXECUTABLE} command not executable; ${EXIT.USAGE} usage or configuration error;
  ${EXIT.POSTSTART_FAILED} postStart failed; ${EXIT.NATIVE_HELPER} native helper hookinit.node missing or broken;
  ${EXIT.INTERNAL} internal error. hook: the handler's code, ${EXIT.TIMED_OUT} timed out;
  hook, status: ${EXIT.UNREACHABLE} supervisor unreachable. ready: ${EXIT.FAILURE} not ready.
`;
}
