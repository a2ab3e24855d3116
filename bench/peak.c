/*
 * The CPU's multiply-add peak, for `npm run bench` (compiled there when a C
 * compiler is present): each thread runs independent chains of
 *   fp32: vfmadd231ps (8 multiply-adds per instruction, AVX2/FMA; 16 on
 *         zmm registers where the CPU has AVX-512F);
 *   int8: vpmaddubsw + vpmaddwd + vpaddd (32 u8×s8 multiply-adds, the
 *         sequence ONNX Runtime's AVX2 u8s8 GEMM kernel uses), or vpdpbusd
 *         where the CPU has AVX-VNNI (32 in one instruction) or AVX512-VNNI
 *         (64): the kernels ONNX Runtime picks on such CPUs.
 * Each figure is the best of the kinds this CPU runs, as ONNX Runtime's
 * kernels would. Prints multiply-adds per second and the instruction set
 * of each: `peak <threads>`.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITER 20000000L
static volatile float sinkf;
static volatile int sinki;

static void *fp32(void *arg) {
  (void)arg;
  __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4);
  __m256 a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9);
  for (long n = 0; n < ITER; n++) {
    a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c); a2 = _mm256_fmadd_ps(a2, b, c); a3 = _mm256_fmadd_ps(a3, b, c);
    a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c); a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c);
    a8 = _mm256_fmadd_ps(a8, b, c); a9 = _mm256_fmadd_ps(a9, b, c);
  }
  sinkf = _mm256_cvtss_f32(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(_mm256_add_ps(a6, a7), _mm256_add_ps(a8, a9)))));
  return NULL;
}

static void *int8(void *arg) {
  (void)arg;
  /* The inputs change every iteration (as a GEMM's do), so the compiler cannot hoist the products. */
  __m256i u0 = _mm256_set1_epi8(3), u1 = _mm256_set1_epi8(5), s = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1), step = _mm256_set1_epi8(1);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (long n = 0; n < ITER; n++) {
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(u0, s), ones));
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(u1, s), ones));
    c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(u0, step), ones));
    c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(u1, step), ones));
    c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(_mm256_maddubs_epi16(s, u0), ones));
    c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(_mm256_maddubs_epi16(s, u1), ones));
    u0 = _mm256_add_epi8(u0, step);
    u1 = _mm256_add_epi8(u1, step);
  }
  sinki = _mm256_extract_epi32(_mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)), _mm256_add_epi32(c4, c5)), 0);
  return NULL;
}

__attribute__((target("avx512f"))) static void *fp32zmm(void *arg) {
  (void)arg;
  __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-7f);
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4);
  __m512 a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9);
  for (long n = 0; n < ITER; n++) {
    a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c); a2 = _mm512_fmadd_ps(a2, b, c); a3 = _mm512_fmadd_ps(a3, b, c);
    a4 = _mm512_fmadd_ps(a4, b, c); a5 = _mm512_fmadd_ps(a5, b, c); a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c);
    a8 = _mm512_fmadd_ps(a8, b, c); a9 = _mm512_fmadd_ps(a9, b, c);
  }
  sinkf = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(_mm512_add_ps(a6, a7), _mm512_add_ps(a8, a9)))));
  return NULL;
}

/*
 * Twelve independent vpdpbusd chains, inputs changing every iteration as in
 * int8() above: Intel's cores issue it on two ports with a latency of five
 * cycles, so fewer chains (six measured half the peak there) leave ports idle.
 * Written out, not as arrays, so every chain stays in a register.
 */
#define VNNI_CHAINS 12
#define VNNI_LOOP(dp)                                                                                  \
  c0 = dp(c0, u0, s); c1 = dp(c1, u1, s); c2 = dp(c2, u0, step); c3 = dp(c3, u1, step);                \
  c4 = dp(c4, s, u0); c5 = dp(c5, s, u1); c6 = dp(c6, u1, s); c7 = dp(c7, u0, s);                      \
  c8 = dp(c8, u1, step); c9 = dp(c9, u0, step); c10 = dp(c10, s, u1); c11 = dp(c11, s, u0)
#define VNNI_SUM(add) add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))), add(add(c8, c9), add(c10, c11)))

__attribute__((target("avxvnni"))) static void *int8vnni(void *arg) {
  (void)arg;
  __m256i u0 = _mm256_set1_epi8(3), u1 = _mm256_set1_epi8(5), s = _mm256_set1_epi8(-2), step = _mm256_set1_epi8(1);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (long n = 0; n < ITER; n++) {
    VNNI_LOOP(_mm256_dpbusd_avx_epi32);
    u0 = _mm256_add_epi8(u0, step);
    u1 = _mm256_add_epi8(u1, step);
  }
  sinki = _mm256_extract_epi32(VNNI_SUM(_mm256_add_epi32), 0);
  return NULL;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void *int8zmm(void *arg) {
  (void)arg;
  __m512i u0 = _mm512_set1_epi8(3), u1 = _mm512_set1_epi8(5), s = _mm512_set1_epi8(-2), step = _mm512_set1_epi8(1);
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (long n = 0; n < ITER; n++) {
    VNNI_LOOP(_mm512_dpbusd_epi32);
    u0 = _mm512_add_epi8(u0, step);
    u1 = _mm512_add_epi8(u1, step);
  }
  sinki = _mm512_reduce_add_epi32(VNNI_SUM(_mm512_add_epi32));
  return NULL;
}

static double run(void *(*fn)(void *), int threads) {
  pthread_t th[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, fn, NULL);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Multiply-adds per second of `fn` (`macs` per iteration per thread), best of three runs. */
static double rate(void *(*fn)(void *), int threads, double macs) {
  double best = 1e9;
  for (int r = 0; r < 3; r++) {
    double t = run(fn, threads);
    if (t < best) best = t;
  }
  return threads * ITER * macs / best;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 64) threads = 1;
  __builtin_cpu_init();
  double f = rate(fp32, threads, 10.0 * 8), i = rate(int8, threads, 6.0 * 32);
  const char *fIsa = "AVX2 FMA", *iIsa = "AVX2 vpmaddubsw";
  if (__builtin_cpu_supports("avx512f")) {
    double z = rate(fp32zmm, threads, 10.0 * 16);
    if (z > f) f = z, fIsa = "AVX-512 FMA";
  }
  if (__builtin_cpu_supports("avxvnni")) {
    double v = rate(int8vnni, threads, VNNI_CHAINS * 32.0);
    if (v > i) i = v, iIsa = "AVX-VNNI vpdpbusd";
  }
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
    double v = rate(int8zmm, threads, VNNI_CHAINS * 64.0);
    if (v > i) i = v, iIsa = "AVX512-VNNI vpdpbusd";
  }
  printf("{\"fp32\": %.4e, \"int8\": %.4e, \"fp32Isa\": \"%s\", \"int8Isa\": \"%s\"}\n", f, i, fIsa, iIsa);
  return 0;
}
