// A TCP port on 127.0.0.1 that was free a moment ago, for the node-driven
// tests that start the server or Prometheus (tests/openapi, tests/observability).
import net from "node:net";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
