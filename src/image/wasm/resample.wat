;; Pillow's antialiased bilinear resampling passes (see ../resample.ts) in
;; WebAssembly SIMD: the same fixed-point arithmetic (22 fractional bits,
;; int32 accumulators starting at 2^21, result >> 22 clamped to 0..255), so
;; the output is bit-identical to the TypeScript passes and to Pillow.
;; Build: npm run build:wasm (writes ../resample-wasm.ts).
(module
  (memory (export "memory") 1)

  ;; Horizontal pass over `rows` rows of 3-channel pixels (`srcStride` bytes
  ;; apart) into `outWidth` pixels per row. `bounds` holds (first source
  ;; pixel, taps) int32 pairs. Taps go two at a time through i32x4.dot_i16x8_s
  ;; (one pmaddwd: two pixels' products summed per channel): the 22-bit
  ;; weights do not fit 16 bits, so each weight w is split as
  ;; (w >> 11) * 2048 + (w & 2047), and `weights` holds, per output pixel,
  ;; `pairs` blocks of 32 bytes: the high parts as i16 [a0 a1 a0 a1 a0 a1 0 0],
  ;; then the low parts the same way (a missing second tap weighs 0). The
  ;; sums are the same integers as one 32-bit product per tap, so the bits
  ;; are too. Each pixel pair is loaded as 8 bytes and each result stored as
  ;; 4: the extra bytes are ignored on load and overwritten by the next
  ;; pixel on store (the caller leaves padding at the ends).
  (func (export "horizontal3")
    (param $src i32) (param $srcStride i32) (param $rows i32)
    (param $bounds i32) (param $weights i32) (param $pairs i32)
    (param $outWidth i32) (param $out i32)
    (local $r i32) (local $i i32) (local $row i32) (local $p i32) (local $n i32)
    (local $k i32) (local $end i32) (local $b i32) (local $px v128) (local $hi v128) (local $lo v128) (local $o i32)
    (local.set $o (local.get $out))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $srcStride))))
        (local.set $i (i32.const 0))
        (block $pixelsDone
          (loop $pixelLoop
            (br_if $pixelsDone (i32.ge_u (local.get $i) (local.get $outWidth)))
            (local.set $b (i32.add (local.get $bounds) (i32.shl (local.get $i) (i32.const 3))))
            (local.set $p (i32.add (local.get $row) (i32.mul (i32.load (local.get $b)) (i32.const 3))))
            (local.set $n (i32.shr_u (i32.add (i32.load offset=4 (local.get $b)) (i32.const 1)) (i32.const 1)))
            (local.set $k (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $i) (local.get $pairs)) (i32.const 5))))
            (local.set $end (i32.add (local.get $k) (i32.shl (local.get $n) (i32.const 5))))
            (local.set $hi (v128.const i32x4 0 0 0 0))
            (local.set $lo (i32x4.splat (i32.const 2097152)))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $k) (local.get $end)))
                ;; [r0 r1 g0 g1 b0 b1 0 0] as i16 lanes (lanes 16+ pick the zero vector)
                (local.set $px
                  (i8x16.shuffle 0 16 3 16 1 16 4 16 2 16 5 16 16 16 16 16
                    (v128.load64_zero (local.get $p)) (v128.const i32x4 0 0 0 0)))
                (local.set $hi (i32x4.add (local.get $hi) (i32x4.dot_i16x8_s (local.get $px) (v128.load (local.get $k)))))
                (local.set $lo (i32x4.add (local.get $lo) (i32x4.dot_i16x8_s (local.get $px) (v128.load offset=16 (local.get $k)))))
                (local.set $p (i32.add (local.get $p) (i32.const 6)))
                (local.set $k (i32.add (local.get $k) (i32.const 32)))
                (br $tapLoop)))
            (v128.store32_lane 0 (local.get $o)
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (i32x4.add (local.get $lo) (i32x4.shl (local.get $hi) (i32.const 11))) (i32.const 22))
                  (v128.const i32x4 0 0 0 0))
                (v128.const i32x4 0 0 0 0)))
            (local.set $o (i32.add (local.get $o) (i32.const 3)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $pixelLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Vertical pass: output row j sums `taps` input rows (`stride` bytes each,
  ;; from row bounds[2j] - rowFirst) with `ksize` weights per row, 16 bytes at
  ;; a time. Loads and stores may run up to 15 bytes past a row (padding).
  (func (export "vertical")
    (param $tmp i32) (param $stride i32) (param $outRows i32)
    (param $bounds i32) (param $weights i32) (param $ksize i32)
    (param $rowFirst i32) (param $out i32)
    (local $j i32) (local $q i32) (local $y i32) (local $n i32) (local $base i32) (local $kbase i32)
    (local $p i32) (local $k i32) (local $v v128) (local $w v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $j) (local.get $outRows)))
        (local.set $base (i32.add (local.get $tmp)
          (i32.mul (i32.sub (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $j) (i32.const 3)))) (local.get $rowFirst)) (local.get $stride))))
        (local.set $n (i32.load offset=4 (i32.add (local.get $bounds) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $kbase (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $j) (local.get $ksize)) (i32.const 2))))
        (local.set $q (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $q) (local.get $stride)))
            (local.set $a0 (i32x4.splat (i32.const 2097152)))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $base) (local.get $q)))
            (local.set $k (local.get $kbase))
            (local.set $y (i32.const 0))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $y) (local.get $n)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $w (v128.load32_splat (local.get $k)))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (local.set $y (i32.add (local.get $y) (i32.const 1)))
                (br $tapLoop)))
            (v128.store
              (i32.add (i32.add (local.get $out) (i32.mul (local.get $j) (local.get $stride))) (local.get $q))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $colLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rowLoop))))
)
