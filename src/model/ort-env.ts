/**
 * Turns ONNX Runtime's usage telemetry off; imported (for its side effect)
 * before `onnxruntime-node` by `ort.ts`, the only module that loads it, and
 * by `session-thread.ts` on the main thread before its worker loads it: in a
 * worker thread `process.env` is the thread's own copy, which ONNX Runtime's
 * `getenv` never sees, so the variable must be set on the main thread.
 *
 * onnxruntime-node 1.30 on Linux records telemetry (process command line, OS,
 * CPU, opsets, session ids) under `~/.cache/Microsoft/DeveloperTools/` and in
 * `/tmp/mat-debug-<pid>.log`, and can upload it. While collecting it,
 * `InferenceSession.create` runs `/proc/self/cmdline` through a `std::regex`,
 * whose libstdc++ executor recurses once per character: a command line over
 * ~29 KB (a shell glob of ~630 photos) overflows the stack (SIGSEGV).
 * `ORT_DISABLE_TELEMETRY=1` stops both. ONNX Runtime reads it with `getenv`,
 * so setting it here covers every session of the process.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';
