/*
 * JPEG decoding at 1/1, 1/2, 1/4 or 1/8 scale in libjpeg's DCT, for fast
 * mode (src/image/jpeg-native.ts).
 *
 * Why our own binding: libvips (through sharp) feeds libjpeg 4 KB at a
 * time, which keeps its Huffman decoder off its fast path much of the time,
 * and hands strips between threads; a 1920x1080 photo costs about 8 ms of
 * CPU through sharp at 1/2 scale, 4 ms here from memory. sharp also picks the
 * scale itself. No npm package offers scaled decoding with the accurate
 * integer IDCT. This links the system's libjpeg-turbo (Debian:
 * libjpeg62-turbo-dev); where it is not installed the addon is not built and
 * sharp decodes everything.
 *
 * decode(bytes: Buffer, denominator: 1|2|4|8, into?: Uint8Array,
 *        x?, y?, regionWidth?, regionHeight?)
 *   -> { data, width, height, channels }
 * The pixels go into `into` when it is large enough (then `data` is `into`,
 * its first width*height*channels bytes), else into a new Buffer. With a
 * region (in scaled pixels), only its rows and columns are decoded, in place
 * in the full-size layout (`into` required): libjpeg still reads every
 * row's entropy-coded data (so damage anywhere is still an error) but skips
 * the IDCT, upsampling and colour conversion of the columns outside and of
 * the rows above. Of the rest of `into`, nothing is meaningful. Grey JPEGs
 * come back with 1 channel, colour ones as RGB; anything libjpeg
 * warns about (truncation, corrupt data) is an error, as with sharp's
 * failOn: 'warning'. The caller checks the header (format, size, scans)
 * before calling.
 */
#include <node_api.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

struct error_manager {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  /* Freed on an error. */
  JSAMPROW *rows;
};

static void fail(j_common_ptr cinfo) {
  struct error_manager *err = (struct error_manager *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

/* Level -1 is a warning (corrupt or truncated data): fatal here. */
static void warn(j_common_ptr cinfo, int level) {
  if (level < 0) fail(cinfo);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, "JPEG_DECODE", message);
  return NULL;
}

static napi_value set_uint(napi_env env, napi_value object, const char *name, uint32_t value) {
  napi_value v;
  napi_create_uint32(env, value, &v);
  napi_set_named_property(env, object, name, v);
  return object;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || (argc > 3 && argc != 7)) {
    return throw_error(env, "decode(bytes, denominator[, into[, x, y, width, height]]) takes two, three or seven arguments");
  }
  void *bytes;
  size_t length;
  if (napi_get_buffer_info(env, argv[0], &bytes, &length) != napi_ok || length == 0) return throw_error(env, "bytes must be a non-empty Buffer");
  int32_t denominator;
  if (napi_get_value_int32(env, argv[1], &denominator) != napi_ok || (denominator != 1 && denominator != 2 && denominator != 4 && denominator != 8)) {
    return throw_error(env, "denominator must be 1, 2, 4 or 8");
  }
  uint32_t region[4] = {0, 0, 0, 0};
  bool has_region = argc == 7;
  for (int i = 0; has_region && i < 4; i++) {
    if (napi_get_value_uint32(env, argv[3 + i], &region[i]) != napi_ok) return throw_error(env, "the region's x, y, width and height must be numbers");
  }

  struct jpeg_decompress_struct cinfo;
  struct error_manager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = fail;
  err.pub.emit_message = warn;
  err.rows = NULL;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(err.rows);
    return throw_error(env, err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_RGB) {
    jpeg_destroy_decompress(&cinfo);
    return throw_error(env, "only grey, YCbCr and RGB JPEGs are decoded here");
  }
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned int)denominator;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (has_region && (region[2] == 0 || region[3] == 0 || (uint64_t)region[0] + region[2] > cinfo.output_width || (uint64_t)region[1] + region[3] > cinfo.output_height)) {
    jpeg_destroy_decompress(&cinfo);
    return throw_error(env, "the region must be a non-empty box inside the scaled image");
  }
  /* The scaled size, before a region's crop narrows output_width. */
  uint32_t width = cinfo.output_width, height = cinfo.output_height, channels = (uint32_t)cinfo.output_components;
  /* Decoded into the caller's `into` when it is large enough, else into a new Buffer. */
  size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
  size_t size = stride * cinfo.output_height;
  napi_value data = NULL;
  void *pixels = NULL;
  bool is_typed = false;
  if (argc > 2 && napi_is_typedarray(env, argv[2], &is_typed) == napi_ok && is_typed) {
    napi_typedarray_type type;
    size_t into_length;
    void *into;
    if (napi_get_typedarray_info(env, argv[2], &type, &into_length, &into, NULL, NULL) == napi_ok && type == napi_uint8_array && into_length >= size) {
      pixels = into;
      data = argv[2];
    }
  }
  if (!pixels && has_region) {
    jpeg_destroy_decompress(&cinfo);
    return throw_error(env, "a region is decoded into `into`, which must hold the whole scaled image");
  }
  if (!pixels && napi_create_buffer(env, size, &pixels, &data) != napi_ok) {
    jpeg_destroy_decompress(&cinfo);
    return throw_error(env, "out of memory");
  }
  /* All rows at once, as libjpeg-turbo's own TurboJPEG API asks: it then
   * writes whole iMCU rows in place instead of buffering one row per call. */
  size_t column_offset = 0;
  if (has_region) {
    /* libjpeg widens the columns to whole iMCUs and says where they start. */
    JDIMENSION crop_x = region[0], crop_width = region[2];
    jpeg_crop_scanline(&cinfo, &crop_x, &crop_width);
    column_offset = (size_t)crop_x * (size_t)cinfo.output_components;
    /* Rows below the region are decoded too (into `into`, outside the region), not skipped: a skip to
     * the end reads nothing, and a damaged end must stay an error, as without a region; and a skip
     * that does not begin on a row group boundary is where libjpeg-turbo's skipping has had its bugs
     * (libjpeg-turbo#915). The one skip here begins at the first row. */
    if (region[1] > 0) jpeg_skip_scanlines(&cinfo, region[1]);
  }
  JSAMPROW *rows = malloc(sizeof(JSAMPROW) * cinfo.output_height);
  if (!rows) {
    jpeg_destroy_decompress(&cinfo);
    return throw_error(env, "out of memory");
  }
  for (JDIMENSION y = 0; y < cinfo.output_height; y++) rows[y] = (unsigned char *)pixels + stride * y + column_offset;
  err.rows = rows;
  while (cinfo.output_scanline < cinfo.output_height) {
    jpeg_read_scanlines(&cinfo, rows + cinfo.output_scanline, cinfo.output_height - cinfo.output_scanline);
  }
  err.rows = NULL;
  free(rows);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);

  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", data);
  set_uint(env, result, "width", width);
  set_uint(env, result, "height", height);
  return set_uint(env, result, "channels", channels);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  return exports;
}
