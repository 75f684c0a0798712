import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, type HookConfig, loadConfig, parseConfig } from "../../src/hooks/config.js";

const FILE = "/etc/hookinit.yaml";

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, got a config");
}

/** A one-container Pod manifest around a lifecycle block (YAML, indented for the container). */
function pod(lifecycle: string, extra = ""): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: example/app:1
    ports:
    - {name: http, containerPort: 8080}
    - {name: admin, containerPort: 9901, protocol: TCP}
    - {containerPort: 7000}
${extra}    lifecycle:
${lifecycle.replace(/^/gm, "      ")}
`;
}

interface Invalid {
  name: string;
  text: string;
  container?: string;
  /** The field path the message must name, as `PATH: ` after the file part. */
  path: string;
  /** More of the message. */
  says: RegExp;
}

const invalid: Invalid[] = [
  {
    name: "a list instead of a mapping",
    text: "- preStop: {}\n",
    path: "",
    says: /expected a lifecycle block .* got a list/,
  },
  {
    name: "a hook that is a string",
    text: "preStop: /bin/drain\n",
    path: "preStop",
    says: /expected a mapping with one of exec, httpGet, tcpSocket, sleep, got "\/bin\/drain"/,
  },
  {
    name: "an empty hook (null)",
    text: "preStop:\n",
    path: "preStop",
    says: /expected a mapping .* got an empty value \(null\)/,
  },
  {
    name: "an unknown handler",
    text: "preStop:\n  grpc: {port: 8080}\n",
    path: "preStop.grpc",
    says: /unknown field .*allowed here: exec, httpGet, tcpSocket, sleep, timeoutSeconds/,
  },
  {
    name: "a handler name with the wrong case",
    text: "preStop:\n  httpget: {port: 8080}\n",
    path: "preStop.httpget",
    says: /unknown field; did you mean httpGet\?/,
  },
  {
    name: "two handlers",
    text: "preStop:\n  exec: {command: [drain]}\n  httpGet: {port: 8080}\n",
    path: "preStop",
    says: /^config \/etc\/hookinit\.yaml: preStop: exactly one of exec, httpGet, tcpSocket, sleep is allowed; got exec and httpGet$/,
  },
  {
    name: "three handlers",
    text: "postStart:\n  exec: {command: [a]}\n  httpGet: {port: 1}\n  sleep: {seconds: 1}\n",
    path: "postStart",
    says: /got exec, httpGet and sleep$/,
  },
  {
    name: "no handler",
    text: "preStop: {}\n",
    path: "preStop",
    says: /^config \/etc\/hookinit\.yaml: preStop: needs one of exec, httpGet, tcpSocket, sleep$/,
  },
  {
    name: "only a timeout",
    text: "postStop:\n  timeoutSeconds: 5\n",
    path: "postStop",
    says: /needs one of exec, httpGet, tcpSocket, sleep/,
  },
  {
    name: "an empty command",
    text: "preStop:\n  exec: {command: []}\n",
    path: "preStop.exec.command",
    says: /expected a non-empty list of strings.* got a list \[\]/,
  },
  {
    name: "a command given as one string",
    text: "preStop:\n  exec:\n    command: /bin/drain --now\n",
    path: "preStop.exec.command",
    says: /expected a non-empty list of strings: the program and its arguments, run without a shell/,
  },
  {
    name: "a command with a number",
    text: "preStop:\n  exec:\n    command: [sleep, 5]\n",
    path: "preStop.exec.command[1]",
    says: /expected a string \(quote numbers and booleans in YAML\), got 5/,
  },
  {
    name: "a command whose program is empty",
    text: 'preStop:\n  exec: {command: ["", "x"]}\n',
    path: "preStop.exec.command[0]",
    says: /expected the program to run, got an empty string/,
  },
  {
    name: "exec without command",
    text: "preStop:\n  exec: {}\n",
    path: "preStop.exec.command",
    says: /missing; expected a non-empty list of strings/,
  },
  {
    name: "a typo in command",
    text: "preStop:\n  exec:\n    comand: [drain]\n",
    path: "preStop.exec.comand",
    says: /unknown field; did you mean command\? \(allowed here: command\)/,
  },
  {
    name: "a typo in an httpGet field",
    text: "preStop:\n  httpGet: {port: 8080, paht: /drain}\n",
    path: "preStop.httpGet.paht",
    says: /unknown field; did you mean path\?/,
  },
  {
    name: "port 0",
    text: "preStop:\n  httpGet: {port: 0}\n",
    path: "preStop.httpGet.port",
    says: /expected an integer from 1 to 65535 or a port name, got 0$/,
  },
  {
    name: "port 70000",
    text: "preStop:\n  httpGet:\n    port: 70000\n",
    path: "preStop.httpGet.port",
    says: /^config \/etc\/hookinit\.yaml: preStop\.httpGet\.port: expected an integer from 1 to 65535 or a port name, got 70000$/,
  },
  {
    name: "a fractional port",
    text: "preStop:\n  tcpSocket: {port: 80.5}\n",
    path: "preStop.tcpSocket.port",
    says: /got 80\.5/,
  },
  {
    name: "a named port outside a manifest",
    text: "preStop:\n  httpGet: {port: x}\n",
    path: "preStop.httpGet.port",
    says: /port name "x" can only be resolved .* use the port number/,
  },
  {
    name: "a port that is not a valid name",
    text: "preStop:\n  tcpSocket: {port: Not_A_Port}\n",
    path: "preStop.tcpSocket.port",
    says: /expected an integer from 1 to 65535 or a port name, got "Not_A_Port"/,
  },
  {
    name: "a quoted port number",
    text: 'preStop:\n  tcpSocket: {port: "8080"}\n',
    path: "preStop.tcpSocket.port",
    says: /write the number without quotes/,
  },
  {
    name: "httpGet without port",
    text: "preStop:\n  httpGet: {path: /drain}\n",
    path: "preStop.httpGet.port",
    says: /missing; expected an integer from 1 to 65535 or a port name/,
  },
  {
    name: "negative sleep",
    text: "preStop:\n  sleep: {seconds: -1}\n",
    path: "preStop.sleep.seconds",
    says: /expected a whole number of seconds from 0 to 86400 \(0 returns at once\), got -1/,
  },
  {
    name: "a huge sleep",
    text: "preStop:\n  sleep: {seconds: 1000000}\n",
    path: "preStop.sleep.seconds",
    says: /got 1000000$/,
  },
  {
    name: "a fractional sleep",
    text: "preStop:\n  sleep: {seconds: 2.5}\n",
    path: "preStop.sleep.seconds",
    says: /got 2\.5$/,
  },
  {
    name: "sleep seconds as a string",
    text: 'preStop:\n  sleep: {seconds: "5s"}\n',
    path: "preStop.sleep.seconds",
    says: /got "5s"$/,
  },
  {
    name: "timeoutSeconds zero",
    text: "preStop:\n  timeoutSeconds: 0\n  sleep: {seconds: 1}\n",
    path: "preStop.timeoutSeconds",
    says: /expected a positive number of seconds, at most 86400, got 0$/,
  },
  {
    name: "timeoutSeconds negative",
    text: "postStart:\n  timeoutSeconds: -5\n  exec: {command: [x]}\n",
    path: "postStart.timeoutSeconds",
    says: /got -5$/,
  },
  {
    name: "timeoutSeconds huge",
    text: "postStop:\n  timeoutSeconds: 86401\n  exec: {command: [x]}\n",
    path: "postStop.timeoutSeconds",
    says: /got 86401$/,
  },
  {
    name: "timeoutSeconds with a unit",
    text: "preStop:\n  timeoutSeconds: 10s\n  exec: {command: [x]}\n",
    path: "preStop.timeoutSeconds",
    says: /got "10s"$/,
  },
  {
    name: "a bad scheme",
    text: "preStop:\n  httpGet: {port: 443, scheme: ftp}\n",
    path: "preStop.httpGet.scheme",
    says: /expected HTTP or HTTPS, got "ftp"/,
  },
  {
    name: "a header name with a space",
    text: "preStop:\n  httpGet:\n    port: 80\n    httpHeaders:\n    - {name: X Drain, value: '1'}\n",
    path: "preStop.httpGet.httpHeaders[0].name",
    says: /expected an HTTP header name .* got "X Drain"/,
  },
  {
    name: "a header name with a colon",
    text: "preStop:\n  httpGet:\n    port: 80\n    httpHeaders:\n    - {name: Host, value: a}\n    - {name: 'X-A:', value: b}\n",
    path: "preStop.httpGet.httpHeaders[1].name",
    says: /got "X-A:"/,
  },
  {
    name: "a header value with a line break",
    text: 'preStop:\n  httpGet:\n    port: 80\n    httpHeaders:\n    - {name: X-A, value: "a\\r\\nEvil: 1"}\n',
    path: "preStop.httpGet.httpHeaders[0].value",
    says: /expected a header value: a string without line breaks/,
  },
  {
    name: "a header without value",
    text: "preStop:\n  httpGet:\n    port: 80\n    httpHeaders: [{name: X-A}]\n",
    path: "preStop.httpGet.httpHeaders[0].value",
    says: /missing; expected a header value/,
  },
  {
    name: "a host with a space",
    text: "preStop:\n  tcpSocket: {port: 80, host: my host}\n",
    path: "preStop.tcpSocket.host",
    says: /expected a host name or IP address/,
  },
  {
    name: "a path with a space",
    text: "preStop:\n  httpGet: {port: 80, path: /a b}\n",
    path: "preStop.httpGet.path",
    says: /without spaces/,
  },
  {
    name: "a typo in a hook name",
    text: "preStp:\n  exec: {command: [x]}\n",
    path: "preStp",
    says: /unknown field; did you mean preStop\? \(allowed here: postStart, preStop, postStop/,
  },
  {
    name: "an unknown top-level key",
    text: "hooks:\n  preStop: {exec: {command: [x]}}\n",
    path: "hooks",
    says: /unknown field \(allowed here: postStart, preStop, postStop/,
  },
  {
    name: "a bad stopSignal",
    text: "stopSignal: TERM\n",
    path: "stopSignal",
    says: /expected a signal name such as SIGTERM or SIGINT, got "TERM"/,
  },
  {
    name: "bad YAML syntax",
    text: "preStop:\n  exec: {command: [x]\n  sleep: 1\n",
    path: "line 3, column",
    says: /: invalid YAML: /,
  },
  {
    name: "a duplicate key",
    text: "preStop:\n  sleep: {seconds: 1}\npreStop:\n  sleep: {seconds: 2}\n",
    path: "line 3, column 1",
    says: /invalid YAML: Map keys must be unique/,
  },
  {
    name: "bad JSON",
    text: '{"preStop": {"exec": {"command": ["x"]},}}',
    path: "",
    says: /^config \/etc\/hookinit\.yaml: invalid JSON: /,
  },
  {
    name: "a hook next to lifecycle: in a container snippet",
    text: "name: app\nlifecycle:\n  postStart: {exec: {command: [x]}}\npreStop:\n  exec: {command: [y]}\n",
    path: "preStop",
    says: /belongs inside lifecycle:/,
  },
  {
    name: "a pod manifest without the named container",
    text: pod("preStop: {sleep: {seconds: 1}}"),
    container: "worker",
    path: "spec.containers",
    says: /^config \/etc\/hookinit\.yaml \(Pod web\): spec\.containers: no container named "worker"; containers: app; set --container/,
  },
  {
    name: "a pod with two containers and no name",
    text: "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n  - name: proxy\n",
    path: "spec.containers",
    says: /2 containers \(app, proxy\); choose one with --container NAME/,
  },
  {
    name: "a pod whose containers are not a list",
    text: "kind: Pod\nspec:\n  containers: {name: app}\n",
    path: "spec.containers",
    says: /expected a list of containers, got a mapping/,
  },
  {
    name: "a pod manifest with an invalid hook",
    text: pod("preStop:\n  httpGet: {port: 70000}"),
    path: "spec.containers[0].lifecycle.preStop.httpGet.port",
    says: /^config \/etc\/hookinit\.yaml \(Pod web, container app\): .* got 70000$/,
  },
  {
    name: "a pod manifest with a port name the container does not have",
    text: pod("preStop:\n  httpGet: {port: metrics}"),
    path: "spec.containers[0].lifecycle.preStop.httpGet.port",
    says: /no port named "metrics" in container app's ports \(named: http, admin\)/,
  },
  {
    name: "a pod manifest with a bad containerPort",
    text: pod("preStop: {sleep: {seconds: 1}}").replace("containerPort: 7000", "containerPort: 0"),
    path: "spec.containers[0].ports[2].containerPort",
    says: /expected an integer from 1 to 65535, got 0/,
  },
  {
    name: "a CronJob with an invalid hook",
    text: `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: job
            lifecycle:
              postStart:
                exec: {command: [/bin/prep, 1]}
`,
    path: "spec.jobTemplate.spec.template.spec.containers[0].lifecycle.postStart.exec.command[1]",
    says: /\(CronJob nightly, container job\): .* got 1$/,
  },
  {
    name: "a CronJob without a jobTemplate",
    text: "kind: CronJob\nmetadata: {name: nightly}\nspec: {schedule: '@daily'}\n",
    path: "spec.jobTemplate",
    says: /missing; expected a mapping/,
  },
  {
    name: "the second document of a stream",
    text: `kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: app
        lifecycle:
          preStop: {sleep: {seconds: -5}}
`,
    path: "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds",
    says: /^config \/etc\/hookinit\.yaml \(document 2, Deployment web, container app\): /,
  },
  {
    name: "only kinds that are not workloads",
    text: "kind: Service\nmetadata: {name: web}\n---\nkind: ConfigMap\n",
    path: "",
    says: /no lifecycle block and no Pod, .* \(found Service, ConfigMap\)/,
  },
  {
    name: "a kind named like an Object property",
    text: "kind: constructor\nspec: {containers: {}}\n",
    path: "",
    says: /\(found constructor\)/,
  },
];

describe("parseConfig rejects", () => {
  it("has a table of at least 25 invalid configs", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(25);
  });

  it.each(invalid)("$name", ({ text, container, path, says }) => {
    const error = errorOf(() => parseConfig(text, FILE, container));
    const { message } = error;
    expect(message).toMatch(/^config \/etc\/hookinit\.yaml[ :]/);
    expect(message).not.toMatch(/^hookinit:/);
    expect(message).not.toContain("\n");
    if (path !== "") expect(message).toMatch(new RegExp(`: ${escapeRegExp(path)}[:,\\s]`));
    expect(message).toMatch(says);
  });

  it("also rejects the JSON form of an invalid config, with the same path", () => {
    const json = JSON.stringify({ preStop: { httpGet: { port: 70000 } } });
    expect(errorOf(() => parseConfig(json, "/etc/hookinit.json")).message).toBe(
      "config /etc/hookinit.json: preStop.httpGet.port: expected an integer from 1 to 65535 or a port name, got 70000",
    );
  });

  it("reports the unknown field rather than the missing one it was meant to be", () => {
    const json = '{"preStop": {"exec": {"comand": ["x"]}}}';
    expect(errorOf(() => parseConfig(json, FILE)).message).toContain("preStop.exec.comand:");
  });

  it("refuses a JSON prototype key as an unknown field", () => {
    const json = '{"__proto__": {"polluted": true}}';
    expect(errorOf(() => parseConfig(json, FILE)).message).toContain("__proto__: unknown field");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const EXPECTED: HookConfig = {
  postStart: {
    name: "postStart",
    handler: { type: "exec", command: ["/bin/sh", "-c", "echo started > /tmp/started"] },
    timeoutSeconds: 10,
  },
  preStop: {
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
  },
};

describe("parseConfig accepts", () => {
  it("a bare lifecycle block in YAML, with the defaults filled in", () => {
    const yaml = `# hookinit config
postStart:
  exec:
    command: ["/bin/sh", "-c", "echo started > /tmp/started"]
  timeoutSeconds: 10
preStop:
  httpGet:
    port: 8080
`;
    expect(parseConfig(yaml, FILE)).toEqual(EXPECTED);
  });

  it("the same block in JSON", () => {
    const json = JSON.stringify(
      {
        postStart: {
          exec: { command: ["/bin/sh", "-c", "echo started > /tmp/started"] },
          timeoutSeconds: 10,
        },
        preStop: { httpGet: { port: 8080 } },
      },
      null,
      2,
    );
    expect(parseConfig(json, "/etc/hookinit.json")).toEqual(EXPECTED);
    expect(parseConfig(`\uFEFF\n  ${json}`, "/etc/hookinit.json")).toEqual(EXPECTED);
  });

  it("a YAML flow mapping that starts with { but is not JSON", () => {
    expect(parseConfig("{preStop: {sleep: {seconds: 3}}}", FILE)).toEqual({
      preStop: {
        name: "preStop",
        handler: { type: "sleep", seconds: 3 },
        timeoutSeconds: undefined,
      },
    });
  });

  it("an empty file, a comment, and an empty block as a config with no hooks", () => {
    expect(parseConfig("", FILE)).toEqual({});
    expect(parseConfig("# nothing yet\n", FILE)).toEqual({});
    expect(parseConfig("{}", FILE)).toEqual({});
    expect(parseConfig("---\n", FILE)).toEqual({});
  });

  it("every handler and option: scheme in lower case, headers, host, path, tcpSocket, sleep, postStop", () => {
    const yaml = `
postStart:
  tcpSocket: {port: 5432}
preStop:
  httpGet:
    scheme: https
    host: "[::1]"
    port: 8443
    path: drain?wait=1
    httpHeaders:
    - {name: X-Drain, value: "yes please"}
    - {name: Authorization, value: ""}
  timeoutSeconds: 0.5
postStop:
  sleep: {seconds: 86400}
stopSignal: SIGQUIT
`;
    expect(parseConfig(yaml, FILE)).toEqual({
      postStart: {
        name: "postStart",
        handler: { type: "tcpSocket", host: "127.0.0.1", port: 5432 },
        timeoutSeconds: undefined,
      },
      preStop: {
        name: "preStop",
        handler: {
          type: "httpGet",
          scheme: "HTTPS",
          host: "::1",
          port: 8443,
          path: "/drain?wait=1",
          headers: [
            { name: "X-Drain", value: "yes please" },
            { name: "Authorization", value: "" },
          ],
        },
        timeoutSeconds: 0.5,
      },
      postStop: {
        name: "postStop",
        handler: { type: "sleep", seconds: 86400 },
        timeoutSeconds: undefined,
      },
      stopSignal: "SIGQUIT",
    });
  });

  it("empty strings as the Kubernetes defaults for host, path and scheme", () => {
    const config = parseConfig(
      'preStop:\n  httpGet: {port: 80, host: "", path: "", scheme: ""}\n',
      FILE,
    );
    expect(config.preStop?.handler).toEqual({
      type: "httpGet",
      scheme: "HTTP",
      host: "127.0.0.1",
      port: 80,
      path: "/",
      headers: [],
    });
  });

  it("a container snippet, resolving its own named ports", () => {
    const yaml = `name: app
image: example/app:1
ports: [{name: http, containerPort: 8080}]
lifecycle:
  preStop:
    httpGet: {port: http, path: /drain}
`;
    expect(parseConfig(yaml, FILE).preStop?.handler).toEqual({
      type: "httpGet",
      scheme: "HTTP",
      host: "127.0.0.1",
      port: 8080,
      path: "/drain",
      headers: [],
    });
  });

  it("a pod manifest, ignoring other fields, resolving named ports, keeping the grace period", () => {
    const text = pod(
      "postStart:\n  tcpSocket: {port: admin}\npreStop:\n  httpGet: {port: http, path: /drain}",
      "    env: [{name: A, value: b}]\n    readinessProbe: {httpGet: {port: http}}\n",
    );
    const expected = {
      postStart: {
        name: "postStart",
        handler: { type: "tcpSocket", host: "127.0.0.1", port: 9901 },
        timeoutSeconds: undefined,
      },
      preStop: {
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
      },
      // The pod's terminationGracePeriodSeconds: the stop budget unless --grace is given.
      graceSeconds: 30,
    };
    expect(parseConfig(text, FILE)).toEqual(expected);
    expect(parseConfig(text, FILE, "app")).toEqual(expected);
  });

  it("a pod manifest with several containers, by name, including a sidecar init container", () => {
    const text = `kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - name: proxy
    restartPolicy: Always
    lifecycle:
      preStop: {exec: {command: [/proxy, drain]}}
  containers:
  - name: app
    lifecycle:
      preStop: {sleep: {seconds: 5}}
  - name: worker
`;
    expect(parseConfig(text, FILE, "app").preStop?.handler).toEqual({ type: "sleep", seconds: 5 });
    expect(parseConfig(text, FILE, "proxy").preStop?.handler).toEqual({
      type: "exec",
      command: ["/proxy", "drain"],
    });
    expect(parseConfig(text, FILE, "worker")).toEqual({});
  });

  it.each([
    ["Deployment", "apps/v1"],
    ["StatefulSet", "apps/v1"],
    ["DaemonSet", "apps/v1"],
    ["ReplicaSet", "apps/v1"],
    ["Job", "batch/v1"],
  ])("a %s", (kind, apiVersion) => {
    const text = `apiVersion: ${apiVersion}
kind: ${kind}
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        ports: [{name: http, containerPort: 3000}]
        lifecycle:
          preStop:
            httpGet: {port: http, path: /shutdown}
`;
    expect(parseConfig(text, FILE).preStop).toEqual({
      name: "preStop",
      handler: {
        type: "httpGet",
        scheme: "HTTP",
        host: "127.0.0.1",
        port: 3000,
        path: "/shutdown",
        headers: [],
      },
      timeoutSeconds: undefined,
    });
  });

  it("a CronJob", () => {
    const text = `kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: job
            lifecycle:
              postStop: {exec: {command: [/bin/report]}, timeoutSeconds: 30}
`;
    expect(parseConfig(text, FILE)).toEqual({
      postStop: {
        name: "postStop",
        handler: { type: "exec", command: ["/bin/report"] },
        timeoutSeconds: 30,
      },
    });
  });

  it("the first workload of a multi-document file, or the first with the named container", () => {
    const text = `kind: Service
metadata: {name: web}
---
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        lifecycle: {preStop: {sleep: {seconds: 1}}}
---
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers:
      - name: db
        lifecycle: {preStop: {sleep: {seconds: 2}}}
`;
    expect(parseConfig(text, FILE).preStop?.handler).toEqual({ type: "sleep", seconds: 1 });
    expect(parseConfig(text, FILE, "db").preStop?.handler).toEqual({ type: "sleep", seconds: 2 });
    expect(errorOf(() => parseConfig(text, FILE, "cache")).message).toMatch(
      /^config \/etc\/hookinit\.yaml \(document 2, Deployment web\): spec\.template\.spec\.containers: no container named "cache"/,
    );
  });

  it("a container without hooks as a config with no hooks", () => {
    const text = "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: x\n";
    expect(parseConfig(text, FILE)).toEqual({});
  });

  it("YAML anchors and merge keys", () => {
    const yaml = `x-drain: &drain
  exec: {command: [/bin/drain]}
`;
    // An unknown top-level key is still an error: anchors go in a manifest or under a hook.
    expect(() => parseConfig(yaml, FILE)).toThrow(ConfigError);
    const ok = `preStop:
  <<: {exec: {command: [/bin/drain]}}
  timeoutSeconds: 3
postStop: &stop
  sleep: {seconds: 1}
postStart: *stop
`;
    const config = parseConfig(ok, FILE);
    expect(config.preStop).toEqual({
      name: "preStop",
      handler: { type: "exec", command: ["/bin/drain"] },
      timeoutSeconds: 3,
    });
    expect(config.postStart?.name).toBe("postStart");
    expect(config.postStop?.name).toBe("postStop");
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file", () => {
    const file = join(dir, "hooks.yaml");
    writeFileSync(file, "preStop:\n  exec: {command: [/bin/drain]}\n");
    expect(loadConfig(file)).toEqual({
      preStop: {
        name: "preStop",
        handler: { type: "exec", command: ["/bin/drain"] },
        timeoutSeconds: undefined,
      },
    });
  });

  it("names the file in validation errors", () => {
    const file = join(dir, "pod.json");
    writeFileSync(
      file,
      JSON.stringify({
        kind: "Pod",
        metadata: { name: "web" },
        spec: { containers: [{ name: "app", lifecycle: { preStop: { sleep: { seconds: -1 } } } }] },
      }),
    );
    expect(errorOf(() => loadConfig(file, "app")).message).toBe(
      `config ${file} (Pod web, container app): spec.containers[0].lifecycle.preStop.sleep.seconds: expected a whole number of seconds from 0 to 86400 (0 returns at once), got -1`,
    );
  });

  it("a file that does not exist: names the file and the errno reason", () => {
    const file = join(dir, "missing.yaml");
    expect(errorOf(() => loadConfig(file)).message).toBe(
      `config ${file}: cannot read it: ENOENT (no such file or directory); check --config (HOOKINIT_CONFIG)`,
    );
  });

  it("a directory: names the errno reason", () => {
    expect(errorOf(() => loadConfig(dir)).message).toMatch(
      /: cannot read it: EISDIR \(illegal operation on a directory\)/,
    );
  });
});
