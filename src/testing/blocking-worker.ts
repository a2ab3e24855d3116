/**
 * Test helper: a worker task that stays busy until the test releases it
 * (sets `flag[0]`), for checking what else runs meanwhile and how a running
 * job is stopped.
 */

/** One job: `started[0]` is set when it begins; it ends when `flag[0]` is set. */
export interface BlockingTask {
  started: Int32Array;
  flag: Int32Array;
}

/** Piscina entry point. */
export default function block(task: BlockingTask): string {
  Atomics.store(task.started, 0, 1);
  Atomics.notify(task.started, 0);
  while (Atomics.load(task.flag, 0) === 0) Atomics.wait(task.flag, 0, 0, 50);
  return 'released';
}
