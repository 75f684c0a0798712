/**
 * Every field of the newest Kubernetes release's core/v1 `Lifecycle`,
 * `LifecycleHandler` (exec, httpGet, tcpSocket, sleep) and the `Container`
 * and pod fields they depend on (named `ports`, a sidecar's
 * `restartPolicy`, `spec.os.name` for `stopSignal`), each either accepted
 * with the kubelet's meaning or refused with its own line. Sources:
 * k8s.io/api core/v1 types.go, kubernetes/website container-lifecycle-hooks
 * and pod-lifecycle, pkg/kubelet/lifecycle/handlers.go.
 */
import { constants } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, type Hook, type HookConfig, parseConfig } from "../../src/hooks/config.js";
import { STOP_SIGNALS, stopSignalRefusal } from "../../src/hooks/config-schema.js";
import { FORWARDED_SIGNALS, parseSignal, signalNumber } from "../../src/supervisor/signals.js";

const FILE = "/etc/hookinit.yaml";

/** A Pod around one container's fields (YAML lines for the container, indented by 4). */
function pod(container: string, spec = "", initContainers = ""): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
${spec}${initContainers}  containers:
  - name: app
    image: example/app:1
${container.replace(/^/gm, "    ")}
`;
}

interface Row {
  /** The field, as a path in the API. */
  field: string;
  /** What Kubernetes says about it (release, status). */
  kubernetes: string;
  text: string;
  container?: string;
  accepted?: HookConfig;
  refused?: RegExp;
}

const hook = (value: Hook): Hook => value;

const TABLE: Row[] = [
  {
    field: "lifecycle.postStart",
    kubernetes: "GA; runs right after the container is created, may race the entrypoint",
    text: "postStart: {exec: {command: [/bin/warm]}}\n",
    accepted: {
      postStart: hook({
        name: "postStart",
        handler: { type: "exec", command: ["/bin/warm"] },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "lifecycle.preStop",
    kubernetes: "GA; runs before the stop signal, inside the grace period",
    text: "preStop: {exec: {command: [/bin/drain, --now]}}\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: { type: "exec", command: ["/bin/drain", "--now"] },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "lifecycle.stopSignal",
    kubernetes: "1.33+ (ContainerStopSignals); the signal the runtime stops the container with",
    text: "stopSignal: SIGQUIT\n",
    accepted: { stopSignal: "SIGQUIT" },
  },
  {
    field: "lifecycle.stopSignal with spec.os.name: linux",
    kubernetes: "stopSignal needs the pod's OS",
    text: pod("lifecycle: {stopSignal: SIGUSR1}", "  os: {name: linux}\n"),
    accepted: { stopSignal: "SIGUSR1" },
  },
  {
    field: "lifecycle.stopSignal without spec.os.name",
    kubernetes: "refused by the API server: stopSignal only in a pod with spec.os.name",
    text: pod("lifecycle: {stopSignal: SIGUSR1}"),
    refused:
      /\(Pod web, container app\): spec\.os\.name: missing; Kubernetes accepts spec\.containers\[0\]\.lifecycle\.stopSignal only in a pod that names its OS: add os: \{name: linux\} to spec$/,
  },
  {
    field: "spec.os.name: windows",
    kubernetes: "a Windows pod (stopSignal limited to SIGTERM, SIGKILL there)",
    text: pod("lifecycle: {stopSignal: SIGTERM}", "  os: {name: windows}\n"),
    refused: /spec\.os\.name: expected linux \(hookinit runs on Linux\), got "windows"$/,
  },
  {
    field: "lifecycle.stopSignal: SIGKILL",
    kubernetes: "valid in the API",
    text: "stopSignal: SIGKILL\n",
    refused:
      /^config \/etc\/hookinit\.yaml: stopSignal: SIGKILL cannot be caught: the runtime would kill PID 1 at once, with no preStop/,
  },
  {
    field: "lifecycle.stopSignal: SIGSTOP",
    kubernetes: "valid in the API",
    text: "stopSignal: SIGSTOP\n",
    refused: /stopSignal: SIGSTOP cannot be caught: the runtime would freeze PID 1/,
  },
  {
    field: "lifecycle.stopSignal: SIGCHLD",
    kubernetes: "valid in the API",
    text: "stopSignal: SIGCHLD\n",
    refused: /stopSignal: SIGCHLD cannot be the stop signal: hookinit reaps children on SIGCHLD/,
  },
  {
    field: "lifecycle.stopSignal: SIGRTMIN+1 (any real-time signal)",
    kubernetes: "valid in the API",
    text: "stopSignal: SIGRTMIN+1\n",
    refused:
      /stopSignal: SIGRTMIN\+1 is a real-time signal, which hookinit \(a Node program\) cannot receive/,
  },
  {
    field: "lifecycle.stopSignal: TERM",
    kubernetes: "refused by the API server: the names are SIGTERM, SIGQUIT, ...",
    text: "stopSignal: TERM\n",
    refused: /stopSignal: expected a signal name such as SIGTERM or SIGINT, got "TERM"$/,
  },
  {
    field: "exec.command",
    kubernetes: "argv, no shell",
    text: "preStop:\n  exec:\n    command: [/bin/sh, -c, 'nginx -s quit; sleep 1']\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: { type: "exec", command: ["/bin/sh", "-c", "nginx -s quit; sleep 1"] },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "httpGet.path, port, host, scheme, httpHeaders",
    kubernetes:
      "all honoured; host defaults to the pod IP in the kubelet, 127.0.0.1 here (same network namespace)",
    text: `preStop:
  httpGet:
    path: /drain?now=1
    port: 8443
    host: 10.1.2.3
    scheme: HTTPS
    httpHeaders:
    - {name: Host, value: web.example}
    - {name: Authorization, value: Bearer t}
`,
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: {
          type: "httpGet",
          scheme: "HTTPS",
          host: "10.1.2.3",
          port: 8443,
          path: "/drain?now=1",
          headers: [
            { name: "Host", value: "web.example" },
            { name: "Authorization", value: "Bearer t" },
          ],
        },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "httpGet with only port",
    kubernetes: "path defaults to /, scheme to HTTP",
    text: "preStop: {httpGet: {port: 8080}}\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: {
          type: "httpGet",
          scheme: "HTTP",
          host: "127.0.0.1",
          port: 8080,
          path: "/",
          headers: [],
        },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "httpGet.port: a name from the container's ports",
    kubernetes: "resolved from the container's own ports, as the kubelet's resolvePort does",
    text: pod(
      "ports: [{name: http, containerPort: 8080, protocol: TCP}]\nlifecycle: {preStop: {httpGet: {port: http, path: /drain}}}",
    ),
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: {
          type: "httpGet",
          scheme: "HTTP",
          host: "127.0.0.1",
          port: 8080,
          path: "/drain",
          headers: [],
        },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "initContainers[].restartPolicy: Always (a sidecar), its hooks and named ports",
    kubernetes: "sidecars GA in 1.33; hooks allowed only on restartable init containers",
    text: pod(
      "lifecycle: {preStop: {sleep: {seconds: 1}}}",
      "",
      `  initContainers:
  - name: proxy
    restartPolicy: Always
    ports: [{name: admin, containerPort: 9901}]
    lifecycle:
      preStop: {httpGet: {port: admin, path: /drain_listeners}}
`,
    ),
    container: "proxy",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: {
          type: "httpGet",
          scheme: "HTTP",
          host: "127.0.0.1",
          port: 9901,
          path: "/drain_listeners",
          headers: [],
        },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "lifecycle on an init container without restartPolicy: Always",
    kubernetes: "refused by the API server",
    text: pod(
      "workingDir: /app",
      "",
      `  initContainers:
  - name: migrate
    lifecycle:
      postStart: {exec: {command: [/bin/true]}}
`,
    ),
    container: "migrate",
    refused:
      /spec\.initContainers\[0\]\.lifecycle: only a restartable init container \(a sidecar, restartPolicy: Always\) may have lifecycle hooks/,
  },
  {
    field: "httpGet.port: a name in a bare lifecycle block",
    kubernetes: "a name needs the container's ports",
    text: "preStop: {httpGet: {port: http}}\n",
    refused:
      /preStop\.httpGet\.port: port name "http" can only be resolved from a container's ports in a Pod manifest; use the port number/,
  },
  {
    field: "tcpSocket.port, host",
    kubernetes:
      "deprecated as a hook; the kubelet fails it at runtime. hookinit runs it (when called through `hookinit hook`)",
    text: "preStop: {tcpSocket: {port: 5432, host: db}}\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: { type: "tcpSocket", host: "db", port: 5432 },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "tcpSocket with a bad port",
    kubernetes: "(not validated by the API server; fails at runtime)",
    text: "postStart: {tcpSocket: {port: 0}}\n",
    refused:
      /postStart\.tcpSocket\.port: expected an integer from 1 to 65535 or a port name, got 0; note: tcpSocket is deprecated as a lifecycle handler in Kubernetes and the kubelet fails it at runtime, so in a pod spec it works only through an exec hook calling `hookinit hook`/,
  },
  {
    field: "sleep.seconds: 0",
    kubernetes:
      "valid since 1.34 (PodLifecycleSleepActionAllowZero, beta in 1.33); returns at once",
    text: "preStop: {sleep: {seconds: 0}}\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: { type: "sleep", seconds: 0 },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "sleep.seconds: 15",
    kubernetes: "GA in 1.34 (PodLifecycleSleepAction)",
    text: "preStop: {sleep: {seconds: 15}}\n",
    accepted: {
      preStop: hook({
        name: "preStop",
        handler: { type: "sleep", seconds: 15 },
        timeoutSeconds: undefined,
      }),
    },
  },
  {
    field: "sleep.seconds: -1",
    kubernetes: "refused by the API server",
    text: "preStop: {sleep: {seconds: -1}}\n",
    refused:
      /preStop\.sleep\.seconds: expected a whole number of seconds from 0 to 86400 \(0 returns at once\), got -1$/,
  },
  {
    field: "two handlers in one hook",
    kubernetes: "refused by the API server: one and only one handler",
    text: "preStop: {exec: {command: [x]}, sleep: {seconds: 1}}\n",
    refused:
      /preStop: exactly one of exec, httpGet, tcpSocket, sleep is allowed; got exec and sleep$/,
  },
  {
    field: "a field Kubernetes does not have (e.g. lifecycle.preStart)",
    kubernetes: "refused by the API server (strict decoding)",
    text: "preStart: {exec: {command: [x]}}\n",
    refused: /preStart: unknown field \(allowed here: postStart, preStop, postStop, stopSignal\)$/,
  },
];

describe("the newest Kubernetes release's lifecycle fields", () => {
  it.each(TABLE)("$field ($kubernetes)", ({ text, container, accepted, refused }) => {
    if (accepted !== undefined) {
      expect(parseConfig(text, FILE, container)).toEqual(accepted);
      return;
    }
    let error: unknown;
    try {
      parseConfig(text, FILE, container);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).not.toContain("\n");
    expect(message).toMatch(refused ?? /./);
  });

  it("each row is accepted or refused, and each refusal has its own line", () => {
    const lines = new Set<string>();
    for (const row of TABLE) {
      expect(row.accepted === undefined).not.toBe(row.refused === undefined);
      if (row.refused === undefined) continue;
      try {
        parseConfig(row.text, FILE, row.container);
      } catch (error) {
        lines.add((error as Error).message);
      }
    }
    expect(lines.size).toBe(TABLE.filter((row) => row.refused !== undefined).length);
  });
});

describe("every stop signal the config accepts is the one hookinit acts on", () => {
  it("parses with the supervisor's signal table (no silent fallback to SIGTERM)", () => {
    const accepted = STOP_SIGNALS.filter((signal) => stopSignalRefusal(signal) === undefined);
    expect(accepted).toContain("SIGTERM");
    for (const signal of accepted) {
      expect(parseConfig(`stopSignal: ${signal}\n`, FILE).stopSignal).toBe(signal);
      const parsed = parseSignal(signal);
      expect(parsed, signal).toBeDefined();
      expect(signalNumber(parsed as NodeJS.Signals)).toBe(
        constants.signals[signal as NodeJS.Signals],
      );
      expect(FORWARDED_SIGNALS).toContain(parsed);
    }
  });
});

describe("terminationGracePeriodSeconds of a manifest", () => {
  it("is the stop budget (--grace, when given, wins in the supervisor), also for a container without hooks", () => {
    const text = pod("workingDir: /app", "  terminationGracePeriodSeconds: 120\n");
    expect(parseConfig(text, FILE)).toEqual({ graceSeconds: 120 });
    expect(
      parseConfig(
        pod("lifecycle: {preStop: {sleep: {seconds: 0}}}", "  terminationGracePeriodSeconds: 0\n"),
        FILE,
      ).graceSeconds,
    ).toBe(0);
    expect(parseConfig(pod("workingDir: /app"), FILE)).toEqual({});
  });

  it("refuses what Kubernetes refuses, in one line", () => {
    expect(() =>
      parseConfig(pod("workingDir: /app", "  terminationGracePeriodSeconds: -1\n"), FILE),
    ).toThrow(
      /^config \/etc\/hookinit\.yaml \(Pod web\): spec\.terminationGracePeriodSeconds: expected a whole number of seconds from 0 to 2000000, got -1$/,
    );
    expect(() =>
      parseConfig(pod("workingDir: /app", '  terminationGracePeriodSeconds: "30"\n'), FILE),
    ).toThrow(/spec\.terminationGracePeriodSeconds: expected a whole number .* got "30"$/);
  });
});

describe("a hook that calls hookinit hook for itself", () => {
  it("is refused: it would wait for itself (the pod manifest given as the config)", () => {
    const text = pod(
      'lifecycle:\n  preStop: {exec: {command: ["/hookinit/hookinit", "hook", "preStop"]}}',
    );
    expect(() => parseConfig(text, FILE)).toThrow(
      /^config \/etc\/hookinit\.yaml \(Pod web, container app\): spec\.containers\[0\]\.lifecycle\.preStop\.exec\.command: runs "hookinit hook preStop", which would wait for this same hook/,
    );
    expect(() =>
      parseConfig("postStart: {exec: {command: [hookinit, hook, postStart]}}\n", FILE),
    ).toThrow(
      /^config \/etc\/hookinit\.yaml: postStart\.exec\.command: runs "hookinit hook postStart"/,
    );
  });

  it("another hook's name, or another program, is fine", () => {
    expect(
      parseConfig("postStop: {exec: {command: [/hookinit/hookinit, hook, postStart]}}\n", FILE)
        .postStop?.handler,
    ).toEqual({ type: "exec", command: ["/hookinit/hookinit", "hook", "postStart"] });
    expect(
      parseConfig("preStop: {exec: {command: [/bin/myhookinit, hook, preStop]}}\n", FILE).preStop
        ?.handler.type,
    ).toBe("exec");
  });
});

describe("sleep.seconds against the pod's terminationGracePeriodSeconds", () => {
  it("is refused when longer, as the API server does (30 s when unset)", () => {
    expect(() =>
      parseConfig(
        pod(
          "lifecycle: {preStop: {sleep: {seconds: 45}}}",
          "  terminationGracePeriodSeconds: 40\n",
        ),
        FILE,
      ),
    ).toThrow(
      /spec\.containers\[0\]\.lifecycle\.preStop\.sleep\.seconds: 45 is longer than the pod's terminationGracePeriodSeconds \(40\); Kubernetes refuses it$/,
    );
    expect(() => parseConfig(pod("lifecycle: {preStop: {sleep: {seconds: 31}}}"), FILE)).toThrow(
      /31 is longer than the pod's terminationGracePeriodSeconds \(30, the default\)/,
    );
    expect(
      parseConfig(
        pod(
          "lifecycle: {preStop: {sleep: {seconds: 40}}}",
          "  terminationGracePeriodSeconds: 40\n",
        ),
        FILE,
      ).preStop?.handler,
    ).toEqual({ type: "sleep", seconds: 40 });
    // A bare lifecycle block has no pod: --grace cuts a long sleep short instead.
    expect(parseConfig("preStop: {sleep: {seconds: 3600}}\n", FILE).preStop?.handler).toEqual({
      type: "sleep",
      seconds: 3600,
    });
  });
});
