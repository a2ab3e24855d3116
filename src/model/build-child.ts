/**
 * The child process of `build-process.ts`: runs one build step sent over
 * IPC, sends back its result (or error) and any progress, then exits.
 */
import { sentError, type BuildStep } from './build-process.js';

type Message = { step: BuildStep; args: unknown[] };

const send = (message: unknown): Promise<void> => new Promise((resolve) => process.send!(message, () => resolve()));

async function run({ step, args }: Message): Promise<unknown> {
  switch (step) {
    case 'checkpoint': {
      const { checkpointToOnnx } = await import('./checkpoint-graph.js');
      return checkpointToOnnx(...(args as Parameters<typeof checkpointToOnnx>));
    }
    case 'user-onnx': {
      const { prepareUserOnnx } = await import('./prepare-onnx.js');
      return prepareUserOnnx(...(args as Parameters<typeof prepareUserOnnx>));
    }
    case 'int8': {
      const { buildQuantized } = await import('./quantize/quantize-build.js');
      const [fp32Path, base, files, options] = args as Parameters<typeof buildQuantized>;
      return buildQuantized(fp32Path, base, files, { ...options, onProgress: (progress) => void send({ progress }) });
    }
    case 'optimise': {
      const { preoptimizedModel } = await import('./preoptimize.js');
      return preoptimizedModel(...(args as Parameters<typeof preoptimizedModel>));
    }
  }
}

// A parent that is gone (ended by a signal it did not handle, or killed) closes the channel; a Ctrl-C reaches
// this process too. Either way it stops, and `process.exit` removes the graphs it was writing (fs-atomic.ts).
// A hang-up (the terminal closed) reaches the whole group, and its default action would end this process with
// no exit handler run, leaving the graph it was writing; it follows its parent instead: a parent the hang-up
// ended closes the channel, one that survives it (under nohup) still wants its model.
process.once('disconnect', () => process.exit(1));
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.on('SIGHUP', () => undefined);

process.once('message', async (message: Message) => {
  let reply: unknown;
  try {
    reply = { result: (await run(message)) ?? null };
  } catch (err) {
    reply = { error: sentError(err) };
  }
  await send(reply);
  process.exit(0);
});
