// The program under test in bench/shutdown: a small HTTP server with the
// usual drain endpoints, run inside the container with /usr/bin/node.
//
//   GET /        answers 200 after DELAY_MS (requests are in flight meanwhile)
//   GET /ready   200, or 503 once draining (the readiness endpoint)
//   GET /drain   sets draining, then answers 200 once no request is in flight
//                AND at least DEREGISTRATION_MS have passed since the first
//                /drain: the time a load balancer or endpoint controller needs
//                to notice that /ready fails and stop sending new requests
//   SIGTERM      closes the listener (new connections are refused) and exits
//                once the requests in flight have been answered, as typical
//                servers do; it does not wait for anybody to deregister it
//
// On exit it prints one line "server: exit {...}" with its counters.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 8080);
const delayMs = Number(process.env.DELAY_MS ?? 100);
const deregistrationMs = Number(process.env.DEREGISTRATION_MS ?? 2000);

const counters = {
  served: 0,
  readyProbes: 0,
  readyFailed: 0,
  drainCalls: 0,
  inFlightAtDrain: undefined,
  inFlightAtSigterm: undefined,
  drainedAfterMs: undefined,
  exitAfterSigtermMs: undefined,
};
let inFlight = 0;
let drainingSince;
let sigtermAt;

const server = createServer((request, response) => {
  const path = (request.url ?? "/").split("?")[0];
  if (path === "/ready") {
    counters.readyProbes++;
    if (drainingSince !== undefined) counters.readyFailed++;
    response.statusCode = drainingSince === undefined ? 200 : 503;
    response.end(drainingSince === undefined ? "ok\n" : "draining\n");
    return;
  }
  if (path === "/drain") {
    counters.drainCalls++;
    if (drainingSince === undefined) {
      drainingSince = Date.now();
      counters.inFlightAtDrain = inFlight;
      console.log(`server: draining, ${inFlight} request(s) in flight`);
    }
    const wait = setInterval(() => {
      if (inFlight > 0 || Date.now() - drainingSince < deregistrationMs) return;
      clearInterval(wait);
      counters.drainedAfterMs = Date.now() - drainingSince;
      console.log(`server: drained after ${counters.drainedAfterMs} ms`);
      response.end("drained\n");
    }, 10);
    return;
  }
  inFlight++;
  setTimeout(() => {
    inFlight--;
    counters.served++;
    response.end("hello\n");
  }, delayMs);
});

function exit() {
  counters.exitAfterSigtermMs = sigtermAt === undefined ? undefined : Date.now() - sigtermAt;
  console.log(`server: exit ${JSON.stringify(counters)}`);
  process.exit(0);
}

process.on("SIGTERM", () => {
  if (sigtermAt !== undefined) return;
  sigtermAt = Date.now();
  counters.inFlightAtSigterm = inFlight;
  console.log(
    `server: got SIGTERM (draining=${drainingSince !== undefined}, ${inFlight} in flight), closing the listener`,
  );
  // close() stops accepting at once and calls back when every connection
  // has ended: the requests in flight are answered first (no keep-alive
  // connection is left idle: Node closes idle ones on close()).
  server.close(exit);
  server.closeIdleConnections();
});

server.listen(port, "0.0.0.0", () =>
  console.log(
    `server: listening on 0.0.0.0:${port} as pid ${process.pid} (delay ${delayMs} ms, deregistration delay ${deregistrationMs} ms)`,
  ),
);
