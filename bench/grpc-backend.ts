// The h2 scenario's gRPC backend: `node dist/bench/grpc-backend.js PORT`, @grpc/grpc-js on
// 127.0.0.1:PORT in cleartext (h2c). bench.Echo/Unary answers the 100 bytes every HTTP backend
// answers (body.ts), whatever the request; grpc.health.v1.Health/Check answers SERVING.
import * as grpc from "@grpc/grpc-js";
import { BODY } from "./body.js";
import { HEALTH_CHECK_PATH, HEALTH_SERVING, UNARY_PATH, unaryMethod } from "./grpc.js";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error("usage: node dist/bench/grpc-backend.js PORT");
  process.exit(2);
}

const answer = Buffer.from(BODY);
const server = new grpc.Server();
const unary: grpc.handleUnaryCall<Buffer, Buffer> = (_call, callback) => callback(null, answer);
const check: grpc.handleUnaryCall<Buffer, Buffer> = (_call, callback) => callback(null, HEALTH_SERVING);
server.addService({ Unary: unaryMethod(UNARY_PATH) }, { Unary: unary });
server.addService({ Check: unaryMethod(HEALTH_CHECK_PATH) }, { Check: check });
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error !== null) {
    console.error(`grpc-backend: ${error.message}`);
    process.exit(1);
  }
});
const quit = () => {
  server.forceShutdown();
  process.exit(0);
};
process.once("SIGTERM", quit);
process.once("SIGINT", quit);
