/**
 * The environment `npm start`, the Dockerfile and the Kubernetes manifest
 * give the server (keep them in step): glibc serves buffers up to 4 MB
 * (a batch of one's activations) from its heap, reused run after run, and
 * hands memory freed after a large batch back to the system instead of
 * keeping it (two arenas, trimmed above 4 MB), and asks the kernel for
 * transparent huge pages for what it maps (fewer page faults on fresh
 * activations; glibc 2.35 and later, ignored by older ones), and V8's young
 * generation stays at 1 MB per semi-space in each of the server's three
 * JavaScript threads instead of growing to 16 MB (docs/performance.md, Memory).
 */
export const SERVE_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '4194304', MALLOC_TRIM_THRESHOLD_: '4194304', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', NODE_OPTIONS: '--max-semi-space-size=1' };
