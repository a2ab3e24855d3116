/**
 * The environment `npm start`, the Dockerfile and the Kubernetes manifest
 * give the server (keep them in step): glibc hands memory freed after a
 * large batch back to the system instead of keeping it (README, Memory).
 */
export const SERVE_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '1048576' };
