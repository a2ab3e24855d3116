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
      const { quantizedModel } = await import('./quantize/quantize.js');
      const [fp32Path, options] = args as Parameters<typeof quantizedModel>;
      return quantizedModel(fp32Path, { ...options, onProgress: (progress) => void send({ progress }) });
    }
    case 'optimise': {
      const { preoptimizedModel } = await import('./preoptimize.js');
      return preoptimizedModel(...(args as Parameters<typeof preoptimizedModel>));
    }
  }
}

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
