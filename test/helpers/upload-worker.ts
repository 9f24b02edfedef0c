// Runs raw uploads (uploads.ts rawUpload) in a worker thread, so the writers push bytes truly
// concurrently with an in-process gateway instead of taking turns with it on one event loop (which
// hides the race between a closing gateway and a client still sending). Started by rawUploadsInWorker.
import { parentPort, workerData } from "node:worker_threads";
import { inPool, rawUpload, type RawUploadOptions } from "./uploads.js";

// Outside a worker (e.g. `node --test dist/test/` on Node 20, which loads every file) it does nothing.
if (parentPort !== null) {
  const { attempts, concurrency } = workerData as { attempts: RawUploadOptions[]; concurrency: number };
  const results = await inPool(attempts.length, concurrency, (index) => rawUpload(attempts[index]!));
  parentPort.postMessage(results);
}
