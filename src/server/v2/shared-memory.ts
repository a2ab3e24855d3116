/**
 * Triton's shared-memory routes (system and CUDA), which `tritonclient`
 * calls to list, register and unregister regions. This server keeps no
 * shared memory (tensors travel in the body, JSON or binary), so: the status
 * is an empty list, registering is refused with a 400 that says what to do
 * instead, and unregistering (nothing is registered) succeeds, as Triton's
 * "unregister all" does on a server with no regions.
 */
import type { FastifyInstance } from 'fastify';
import { ResnetServeError } from '../../errors.js';

type Region = { region: string };

/** Registers `/v2/systemsharedmemory/…` and `/v2/cudasharedmemory/…` on `scope`. */
export function sharedMemoryRoutes(scope: FastifyInstance): void {
  for (const kind of ['systemsharedmemory', 'cudasharedmemory']) {
    const base = `/v2/${kind}`;
    scope.get(`${base}/status`, async () => []);
    scope.get<{ Params: Region }>(`${base}/region/:region/status`, async (request) => {
      throw new ResnetServeError('NOT_FOUND', `No shared memory region '${request.params.region}': this server keeps none`);
    });
    scope.post<{ Params: Region }>(`${base}/region/:region/register`, async () => {
      throw new ResnetServeError('BAD_REQUEST', `This server does not use ${kind === 'cudasharedmemory' ? 'CUDA' : 'system'} shared memory; send tensors in the request body (JSON, or binary with the binary data extension)`);
    });
    scope.post(`${base}/unregister`, async () => ({}));
    scope.post<{ Params: Region }>(`${base}/region/:region/unregister`, async () => ({}));
  }
}
