{
  "targets": [
    {
      "target_name": "hookinit",
      "sources": ["hookinit.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
