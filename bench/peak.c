/*
 * The CPU's multiply-add peak, for `npm run bench` (compiled there when a C
 * compiler is present): each thread runs independent chains of
 *   fp32: vfmadd231ps (8 multiply-adds per instruction, AVX2/FMA);
 *   int8: vpmaddubsw + vpmaddwd + vpaddd (32 u8×s8 multiply-adds, the
 *         sequence ONNX Runtime's AVX2 u8s8 GEMM kernel uses).
 * Prints multiply-adds per second for each: `peak <threads>`.
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

static double run(void *(*fn)(void *), int threads) {
  pthread_t th[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, fn, NULL);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 64) threads = 1;
  double best32 = 1e9, best8 = 1e9;
  for (int r = 0; r < 3; r++) {
    double a = run(fp32, threads), b = run(int8, threads);
    if (a < best32) best32 = a;
    if (b < best8) best8 = b;
  }
  printf("{\"fp32\": %.4e, \"int8\": %.4e}\n", threads * ITER * 10.0 * 8 / best32, threads * ITER * 6.0 * 32 / best8);
  return 0;
}
