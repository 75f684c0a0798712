// The demo's "real program": a small HTTP server that drains on request,
// the way a web server behind a load balancer should stop.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 18080);
let draining = false;
let inFlight = 0;

const server = createServer((request, response) => {
  if (request.url === "/drain") {
    draining = true;
    console.log(`server: draining, ${inFlight} request(s) in flight`);
    const wait = setInterval(() => {
      if (inFlight > 0) return;
      clearInterval(wait);
      response.end("drained\n");
    }, 50);
    return;
  }
  if (request.url === "/ready") {
    response.statusCode = draining ? 503 : 200;
    response.end(draining ? "draining\n" : "ok\n");
    return;
  }
  inFlight++;
  setTimeout(() => {
    inFlight--;
    response.end(`hello from pid ${process.pid}\n`);
  }, 200);
});

process.on("SIGTERM", () => {
  console.log(`server: got SIGTERM (draining=${draining}), closing`);
  server.close(() => process.exit(0));
});

server.listen(port, "127.0.0.1", () =>
  console.log(`server: listening on 127.0.0.1:${port} as pid ${process.pid}`),
);
