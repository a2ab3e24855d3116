{
  "targets": [
    {
      "target_name": "jpeg_scaled",
      "sources": ["jpeg_scaled.c"],
      "libraries": ["-ljpeg"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
