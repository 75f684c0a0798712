// The client commands `hookinit hook postStart|preStop`, `hookinit status`
// and `hookinit ready`, in C, so that a lifecycle hook or an exec readiness
// probe never starts the JavaScript runtime: a probe runs every periodSeconds
// in every container, inside the container's own memory limit, and the
// runtime costs ~90 ms of CPU and ~40 MB at peak per call; this costs well
// under a millisecond and a few hundred KiB.
//
// It behaves exactly like src/cli/main.ts + src/ipc/client.ts (same request
// line, socket search, messages and exit codes); the protocol is defined once,
// in src/ipc/protocol.ts, and both clients are held to the same vectors
// (test/fixtures/protocol-vectors.json) and compared side by side against the
// real supervisor. Built static (musl) so it needs nothing from the image.
//
// Entry point: hookinit_client_main(argc, argv) with argv[1] = "hook",
// "status" or "ready"; it returns the exit code and never calls exit().
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

// ---- exit codes (src/core/exit-codes.ts) -----------------------------------
#define EXIT_OK 0
#define EXIT_FAILURE_ 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 69
#define EXIT_INTERNAL 70

// ---- limits ----------------------------------------------------------------
#define CONNECT_PATIENCE_MS 5000
#define RETRY_MS 50
#define READ_CHUNK 65536
// A server line longer than this is skipped as malformed. The supervisor's
// longest line is an output event: 16 KiB of text, at most 6 bytes per byte
// when escaped, so ~100 KiB.
#define MAX_LINE (1024 * 1024)
#define MAX_DEPTH 512

// ---- small growable byte buffer --------------------------------------------
typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} buf;

static void buf_add(buf *b, const void *bytes, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
      b->failed = 1;
      return;
    }
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  b->data[b->len] = '\0';
}
static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_chr(buf *b, char c) { buf_add(b, &c, 1); }
static void buf_free(buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Our caller went away: nothing to do.
    data += n;
    len -= (size_t)n;
  }
}

// ---- UTF-8 -----------------------------------------------------------------

static void utf8_put(buf *b, uint32_t cp) {
  char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    // Lone surrogates too (WTF-8), so that printing can tell them apart.
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  buf_add(b, out, n);
}

// Decodes bytes as Node's StringDecoder and TextDecoder do (the WHATWG UTF-8
// decoder): each maximal invalid subsequence becomes one U+FFFD. Appends
// valid UTF-8 to `out`.
static void utf8_sanitize(buf *out, const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      size_t j = i;
      while (j < n && s[j] < 0x80) j++;
      buf_add(out, s + i, j - i);
      i = j;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      buf_str(out, "\xEF\xBF\xBD");
      i++;
      continue;
    }
    size_t j = i + 1, seen = 0;
    while (seen < need && j < n) {
      unsigned char d = s[j];
      if (d < lo || d > hi) break;
      lo = 0x80;
      hi = 0xBF;
      j++;
      seen++;
    }
    if (seen == need) {
      buf_add(out, s + i, j - i);
    } else {
      buf_str(out, "\xEF\xBF\xBD");
    }
    i = j;
  }
}

// Writes WTF-8 as Node writes a JS string: a lone surrogate becomes U+FFFD.
static void put_text(buf *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + 2 < n && u[i] == 0xED && u[i + 1] >= 0xA0) {
      buf_add(out, s + start, i - start);
      buf_str(out, "\xEF\xBF\xBD");
      i += 2;
      start = i + 1;
    }
  }
  buf_add(out, s + start, n - start);
}

// ---- JSON ------------------------------------------------------------------
// A small parser for one server line into a tree, with JSON.parse's meaning:
// strict grammar, any depth up to MAX_DEPTH, duplicate keys keep the first
// position and the last value.

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jnode {
  int type;
  double num;
  char *str;  // J_STR: WTF-8 bytes
  size_t len;
  char *key;  // member of an object: its key (WTF-8)
  size_t keylen;
  struct jnode *child, *next;
} jnode;

typedef struct {
  const char *p, *end;
  int failed;
} jparser;

static void jfree(jnode *n) {
  while (n != NULL) {
    jnode *next = n->next;
    jfree(n->child);
    free(n->str);
    free(n->key);
    free(n);
    n = next;
  }
}

static void skip_ws(jparser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int hex4(const char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static int parse_string(jparser *ps, char **out, size_t *outlen) {
  buf b = {0};
  ps->p++;  // opening quote
  for (;;) {
    if (ps->p >= ps->end) goto fail;
    unsigned char c = (unsigned char)*ps->p;
    if (c == '"') {
      ps->p++;
      break;
    }
    if (c < 0x20) goto fail;
    if (c != '\\') {
      const char *start = ps->p;
      while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20)
        ps->p++;
      buf_add(&b, start, (size_t)(ps->p - start));
      continue;
    }
    if (ps->p + 1 >= ps->end) goto fail;
    char e = ps->p[1];
    ps->p += 2;
    switch (e) {
      case '"': buf_chr(&b, '"'); break;
      case '\\': buf_chr(&b, '\\'); break;
      case '/': buf_chr(&b, '/'); break;
      case 'b': buf_chr(&b, '\b'); break;
      case 'f': buf_chr(&b, '\f'); break;
      case 'n': buf_chr(&b, '\n'); break;
      case 'r': buf_chr(&b, '\r'); break;
      case 't': buf_chr(&b, '\t'); break;
      case 'u': {
        uint32_t cp;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0) goto fail;
        ps->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
            ps->p[1] == 'u') {
          uint32_t low;
          if (hex4(ps->p + 2, &low) == 0 && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            ps->p += 6;
          }
        }
        utf8_put(&b, cp);
        break;
      }
      default:
        goto fail;
    }
  }
  if (b.failed) goto fail;
  if (b.data == NULL) {
    b.data = malloc(1);
    if (b.data == NULL) goto fail;
    b.data[0] = '\0';
  }
  *out = b.data;
  *outlen = b.len;
  return 0;
fail:
  buf_free(&b);
  ps->failed = 1;
  return -1;
}

static int parse_number(jparser *ps, double *out) {
  const char *p = ps->p, *start = p;
  if (p < ps->end && *p == '-') p++;
  if (p >= ps->end) return -1;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  } else {
    return -1;
  }
  if (p < ps->end && *p == '.') {
    p++;
    if (p >= ps->end || *p < '0' || *p > '9') return -1;
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  }
  if (p < ps->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < ps->end && (*p == '+' || *p == '-')) p++;
    if (p >= ps->end || *p < '0' || *p > '9') return -1;
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  }
  char tmp[512];
  size_t n = (size_t)(p - start);
  if (n < sizeof tmp) {
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
  } else {
    char *big = malloc(n + 1);
    if (big == NULL) return -1;
    memcpy(big, start, n);
    big[n] = '\0';
    *out = strtod(big, NULL);
    free(big);
  }
  ps->p = p;
  return 0;
}

static jnode *parse_value(jparser *ps, int depth);

static jnode *new_node(int type) {
  jnode *n = calloc(1, sizeof *n);
  if (n != NULL) n->type = type;
  return n;
}

static jnode *find_member(jnode *obj, const char *key, size_t keylen) {
  for (jnode *m = obj->child; m != NULL; m = m->next)
    if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0) return m;
  return NULL;
}

static jnode *parse_container(jparser *ps, int depth, int is_object) {
  jnode *node = new_node(is_object ? J_OBJ : J_ARR);
  if (node == NULL) return NULL;
  jnode **tail = &node->child;
  ps->p++;
  skip_ws(ps);
  char close = is_object ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return node;
  }
  for (;;) {
    char *key = NULL;
    size_t keylen = 0;
    if (is_object) {
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != '"' || parse_string(ps, &key, &keylen) != 0) goto fail;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        goto fail;
      }
      ps->p++;
    }
    jnode *value = parse_value(ps, depth + 1);
    if (value == NULL) {
      free(key);
      goto fail;
    }
    jnode *existing = is_object ? find_member(node, key, keylen) : NULL;
    if (existing != NULL) {
      // JSON.parse: the later value wins, in the first one's place.
      free(key);
      jnode *keep_next = existing->next;
      char *keep_key = existing->key;
      size_t keep_keylen = existing->keylen;
      existing->next = NULL;
      existing->key = NULL;
      jfree(existing->child);
      free(existing->str);
      *existing = *value;
      existing->next = keep_next;
      existing->key = keep_key;
      existing->keylen = keep_keylen;
      free(value);
    } else {
      value->key = key;
      value->keylen = keylen;
      *tail = value;
      tail = &value->next;
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return node;
    }
    goto fail;
  }
fail:
  jfree(node);
  ps->failed = 1;
  return NULL;
}

static jnode *parse_value(jparser *ps, int depth) {
  if (depth > MAX_DEPTH) {
    ps->failed = 1;
    return NULL;
  }
  skip_ws(ps);
  if (ps->p >= ps->end) {
    ps->failed = 1;
    return NULL;
  }
  char c = *ps->p;
  if (c == '{' || c == '[') return parse_container(ps, depth, c == '{');
  if (c == '"') {
    jnode *n = new_node(J_STR);
    if (n == NULL || parse_string(ps, &n->str, &n->len) != 0) {
      free(n);
      ps->failed = 1;
      return NULL;
    }
    return n;
  }
  static const struct {
    const char *word;
    int type;
  } words[] = {{"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
  for (size_t i = 0; i < 3; i++) {
    size_t len = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= len && memcmp(ps->p, words[i].word, len) == 0) {
      ps->p += len;
      return new_node(words[i].type);
    }
  }
  jnode *n = new_node(J_NUM);
  if (n == NULL || parse_number(ps, &n->num) != 0) {
    free(n);
    ps->failed = 1;
    return NULL;
  }
  return n;
}

/** JSON.parse of a whole line; NULL when it is not JSON. */
static jnode *json_parse(const char *s, size_t n) {
  jparser ps = {s, s + n, 0};
  jnode *root = parse_value(&ps, 0);
  if (root == NULL) return NULL;
  skip_ws(&ps);
  if (ps.failed || ps.p != ps.end) {
    jfree(root);
    return NULL;
  }
  return root;
}

static jnode *get(jnode *obj, const char *key) {
  if (obj == NULL || obj->type != J_OBJ) return NULL;
  return find_member(obj, key, strlen(key));
}

static int is_string(jnode *n, const char *value) {
  return n != NULL && n->type == J_STR && n->len == strlen(value) && memcmp(n->str, value, n->len) == 0;
}

// ---- JSON.stringify --------------------------------------------------------

/** Number::toString: the shortest decimal that reads back the same, in JS's layout. */
static void put_number(buf *b, double d) {
  if (d != d || d - d != 0) {  // NaN or ±Infinity
    buf_str(b, "null");  // JSON.stringify
    return;
  }
  if (d == 0) {
    buf_chr(b, '0');
    return;
  }
  if (d < 0) {
    buf_chr(b, '-');
    d = -d;
  }
  char sci[64];
  int k;
  for (k = 1; k <= 17; k++) {
    snprintf(sci, sizeof sci, "%.*e", k - 1, d);
    if (strtod(sci, NULL) == d) break;
  }
  // sci = "D.DDDDe+XX": digits and exponent.
  char digits[32];
  size_t nd = 0;
  const char *p = sci;
  for (; *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  int e = atoi(p + 1);
  int n = e + 1;  // ECMAScript's n: value = 0.digits x 10^n
  int kk = (int)nd;
  if (kk <= n && n <= 21) {
    buf_add(b, digits, nd);
    for (int i = 0; i < n - kk; i++) buf_chr(b, '0');
  } else if (0 < n && n <= 21) {
    buf_add(b, digits, (size_t)n);
    buf_chr(b, '.');
    buf_add(b, digits + n, nd - (size_t)n);
  } else if (-6 < n && n <= 0) {
    buf_str(b, "0.");
    for (int i = 0; i < -n; i++) buf_chr(b, '0');
    buf_add(b, digits, nd);
  } else {
    buf_chr(b, digits[0]);
    if (nd > 1) {
      buf_chr(b, '.');
      buf_add(b, digits + 1, nd - 1);
    }
    char exp[16];
    snprintf(exp, sizeof exp, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    buf_str(b, exp);
  }
}

/** JSON.stringify of a string held as WTF-8 (lone surrogates as \udxxx). */
static void put_json_string(buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  buf_chr(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = u[i];
    char esc[8];
    if (c == '"') buf_str(b, "\\\"");
    else if (c == '\\') buf_str(b, "\\\\");
    else if (c == '\b') buf_str(b, "\\b");
    else if (c == '\f') buf_str(b, "\\f");
    else if (c == '\n') buf_str(b, "\\n");
    else if (c == '\r') buf_str(b, "\\r");
    else if (c == '\t') buf_str(b, "\\t");
    else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_str(b, esc);
    } else if (c == 0xED && i + 2 < n && u[i + 1] >= 0xA0) {
      uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(u[i + 1] & 0x3F) << 6) | (u[i + 2] & 0x3F);
      snprintf(esc, sizeof esc, "\\u%04x", cp);
      buf_str(b, esc);
      i += 2;
    } else {
      buf_chr(b, (char)c);
    }
  }
  buf_chr(b, '"');
}

/** A canonical array index ("0", "17"; below 2^32-1): JS objects list these first, ascending. */
static int array_index(const jnode *m, uint32_t *out) {
  if (m->keylen == 0 || m->keylen > 10) return 0;
  if (m->keylen > 1 && m->key[0] == '0') return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < m->keylen; i++) {
    if (m->key[i] < '0' || m->key[i] > '9') return 0;
    v = v * 10 + (uint64_t)(m->key[i] - '0');
  }
  if (v >= 0xFFFFFFFFu) return 0;
  *out = (uint32_t)v;
  return 1;
}

static void indent(buf *b, int level) {
  buf_chr(b, '\n');
  for (int i = 0; i < level; i++) buf_str(b, "  ");
}

static void put_json(buf *b, jnode *n, int level, const char *skip_key);

static void put_member(buf *b, jnode *m, int level, int *first) {
  buf_str(b, *first ? "" : ",");
  *first = 0;
  indent(b, level + 1);
  put_json_string(b, m->key, m->keylen);
  buf_str(b, ": ");
  put_json(b, m, level + 1, NULL);
}

/** JSON.stringify(value, null, 2); `skip_key` leaves out one member of the top object. */
static void put_json(buf *b, jnode *n, int level, const char *skip_key) {
  switch (n->type) {
    case J_NULL: buf_str(b, "null"); return;
    case J_TRUE: buf_str(b, "true"); return;
    case J_FALSE: buf_str(b, "false"); return;
    case J_NUM: put_number(b, n->num); return;
    case J_STR: put_json_string(b, n->str, n->len); return;
    case J_ARR: {
      if (n->child == NULL) {
        buf_str(b, "[]");
        return;
      }
      buf_chr(b, '[');
      for (jnode *e = n->child; e != NULL; e = e->next) {
        indent(b, level + 1);
        put_json(b, e, level + 1, NULL);
        if (e->next != NULL) buf_chr(b, ',');
      }
      indent(b, level);
      buf_chr(b, ']');
      return;
    }
    case J_OBJ: {
      int first = 1;
      // Integer-like keys first, ascending (selection: objects are small).
      int64_t last = -1;
      for (;;) {
        jnode *next = NULL;
        uint32_t best = 0;
        for (jnode *m = n->child; m != NULL; m = m->next) {
          uint32_t index;
          if (array_index(m, &index) && (int64_t)index > last && (next == NULL || index < best)) {
            next = m;
            best = index;
          }
        }
        if (next == NULL) break;
        if (first) buf_chr(b, '{');
        put_member(b, next, level, &first);
        last = best;
      }
      for (jnode *m = n->child; m != NULL; m = m->next) {
        uint32_t index;
        if (array_index(m, &index)) continue;
        if (skip_key != NULL && m->keylen == strlen(skip_key) && memcmp(m->key, skip_key, m->keylen) == 0)
          continue;
        if (first) buf_chr(b, '{');
        put_member(b, m, level, &first);
      }
      if (first) {
        buf_str(b, "{}");
        return;
      }
      indent(b, level);
      buf_chr(b, '}');
      return;
    }
  }
}

// ---- server events (parseServerEvent in src/ipc/protocol.ts) ---------------

enum { EV_NONE, EV_OUTPUT, EV_RESULT, EV_STATUS, EV_ERROR };

static int event_kind(jnode *e) {
  if (e == NULL || e->type != J_OBJ) return EV_NONE;
  jnode *type = get(e, "type");
  if (is_string(type, "output")) {
    jnode *stream = get(e, "stream"), *line = get(e, "line"), *partial = get(e, "partial");
    if ((is_string(stream, "stdout") || is_string(stream, "stderr")) && line != NULL &&
        line->type == J_STR && (partial == NULL || partial->type == J_TRUE || partial->type == J_FALSE))
      return EV_OUTPUT;
  } else if (is_string(type, "result")) {
    jnode *code = get(e, "exitCode"), *error = get(e, "error");
    if (code != NULL && code->type == J_NUM && code->num >= 0 && code->num <= 255 &&
        code->num == (double)(int)code->num && (error == NULL || error->type == J_STR))
      return EV_RESULT;
  } else if (is_string(type, "status")) {
    return EV_STATUS;
  } else if (is_string(type, "error")) {
    jnode *code = get(e, "code"), *message = get(e, "message");
    if (code != NULL && code->type == J_STR && message != NULL && message->type == J_STR)
      return EV_ERROR;
  }
  return EV_NONE;
}

// ---- the socket (src/ipc/socket-path.ts) -----------------------------------
// The same 12 places in the same order, named after the container's mount
// namespace and PID 1's start time; a connection counts only when its server
// is this container's supervisor. See the comment in socket-path.ts.

static const char *const SOCKET_BASES[] = {"/dev/shm", "/run", "/tmp"};
#define N_BASES 3
#define SOCKET_SUFFIXES 4
#define N_CANDIDATES (N_BASES * SOCKET_SUFFIXES)
#define SOCKET_FILE "control.sock"

/** The digits of readlink("/proc/PID/ns/mnt") ("mnt:[4026532841]"); 0 when /proc cannot say. */
static int mount_namespace_id(const char *pid, char *out, size_t size) {
  char path[64], link[128];
  snprintf(path, sizeof path, "/proc/%s/ns/mnt", pid);
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n <= 0) return 0;
  link[n] = '\0';
  // The first "[digits]" in the link, as /\[(\d+)\]/ finds it.
  for (char *open = strchr(link, '['); open != NULL; open = strchr(open + 1, '[')) {
    char *p = open + 1;
    while (*p >= '0' && *p <= '9') p++;
    if (p > open + 1 && *p == ']') {
      snprintf(out, size, "%.*s", (int)(p - open - 1), open + 1);
      return 1;
    }
  }
  return 0;
}

/** Field 22 of /proc/1/stat (PID 1's start time), counted after the last ')'. */
static int pid1_start_time(char *out, size_t size) {
  char stat[4096];
  FILE *f = fopen("/proc/1/stat", "re");
  if (f == NULL) return 0;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  char *paren = strrchr(stat, ')');
  if (paren == NULL || paren[1] == '\0') return 0;
  char *p = paren + 2;
  // Tokens split on single spaces from field 3 on; field 22 is token 19.
  for (int token = 0; token < 19; token++) {
    p = strchr(p, ' ');
    if (p == NULL) return 0;
    p++;
  }
  size_t len = strcspn(p, " ");
  if (len == 0 || len >= size) return 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  snprintf(out, size, "%.*s", (int)len, p);
  return 1;
}

static void socket_dir_name(char *out, size_t size) {
  char mntns[64], started[64];
  if (mount_namespace_id("self", mntns, sizeof mntns) && pid1_start_time(started, sizeof started))
    snprintf(out, size, "hookinit-%s-%s", mntns, started);
  else
    snprintf(out, size, "hookinit");
}

/** isOwnSupervisor: only positive evidence (pid 0, another mount namespace) rejects a server. */
static int is_own_supervisor(long peer_pid) {
  if (peer_pid == 0) return 0;
  char ours[64], theirs[64], pid[32];
  snprintf(pid, sizeof pid, "%ld", peer_pid);
  if (!mount_namespace_id("self", ours, sizeof ours)) return 1;
  if (peer_pid < 0 || !mount_namespace_id(pid, theirs, sizeof theirs)) return 1;
  return strcmp(ours, theirs) == 0;
}

static int connect_unix(const char *path, int *err) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    *err = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  while (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (errno == EINTR) continue;
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

/** SO_PEERCRED's pid; -1 (unknown, so not rejected) if the kernel would not say. */
static long peer_pid(int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return (long)cred.pid;
}

/** Node's errno names (util.getSystemErrorName). */
static const char *errno_name(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EPERM: return "EPERM";
    case ELOOP: return "ELOOP";
    case EAGAIN: return "EAGAIN";
    case ENOTSOCK: return "ENOTSOCK";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case EIO: return "EIO";
    case ECONNRESET: return "ECONNRESET";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENOSPC: return "ENOSPC";
    case EFAULT: return "EFAULT";
    case EBADF: return "EBADF";
    case EINTR: return "EINTR";
    case EEXIST: return "EEXIST";
    case EISDIR: return "EISDIR";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "Unknown system error";
  }
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/** What one candidate gave: a connect errno, or FOREIGN (another container's supervisor). */
#define FOREIGN (-1)
typedef struct {
  char path[4096];
  int code;
} finding;

/**
 * One pass over the places the socket can be: the fd of the first
 * connection to this container's supervisor, or -1 with what each place gave.
 */
static int connect_supervisor(const char *explicit_path, finding *found, int *nfound) {
  int count = 0;
  if (explicit_path != NULL) {
    snprintf(found[count++].path, sizeof found[0].path, "%s", explicit_path);
  } else {
    char name[160];
    socket_dir_name(name, sizeof name);
    for (int b = 0; b < N_BASES; b++)
      for (int k = 0; k < SOCKET_SUFFIXES; k++) {
        if (k == 0)
          snprintf(found[count++].path, sizeof found[0].path, "%s/%s/%s", SOCKET_BASES[b], name,
                   SOCKET_FILE);
        else
          snprintf(found[count++].path, sizeof found[0].path, "%s/%s.%d/%s", SOCKET_BASES[b], name,
                   k, SOCKET_FILE);
      }
  }
  *nfound = 0;
  for (int i = 0; i < count; i++) {
    int err = 0;
    int fd = connect_unix(found[i].path, &err);
    if (fd < 0) {
      found[i].code = err;
    } else if (explicit_path != NULL || is_own_supervisor(peer_pid(fd))) {
      return fd;
    } else {
      close(fd);
      found[i].code = FOREIGN;
    }
    *nfound = i + 1;
  }
  return -1;
}

static void put_long(buf *b, long value) {
  char text[32];
  snprintf(text, sizeof text, "%ld", value);
  buf_str(b, text);
}

/** The directory part of a path, as path.dirname gives it. */
static void put_dirname(buf *b, const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) buf_chr(b, '.');
  else if (slash == path) buf_chr(b, '/');
  else buf_add(b, path, (size_t)(slash - path));
}

static const char *errno_words(int err, char *scratch, size_t size) {
  switch (err) {
    case EROFS: return "is read-only";
    case EACCES: return "is not writable by us";
    case ENOENT: return "does not exist";
    default:
      snprintf(scratch, size, "is not usable (%s)", errno_name(err));
      return scratch;
  }
}

/** Why no supervisor was reached, from what the last pass found (explain() in client.ts). */
static void explain(buf *why, const finding *found, int nfound, const char *explicit_path) {
  long uid = (long)getuid();
  why->len = 0;
  if (explicit_path != NULL) {
    int code = nfound > 0 ? found[0].code : ENOENT;
    if (code == EACCES) {
      buf_str(why, "permission denied on ");
      buf_str(why, explicit_path);
      buf_str(why, ": run the hook as the same user as hookinit (the container's user)");
    } else if (code == ECONNREFUSED) {
      buf_str(why, "nobody answers on ");
      buf_str(why, explicit_path);
      buf_str(why, ": the supervisor is not running (a stale socket from an earlier run?)");
    } else {
      buf_str(why, "cannot connect to ");
      buf_str(why, explicit_path);
      buf_str(why, ": ");
      buf_str(why, errno_name(code));
    }
    return;
  }
  int seen = 0, foreign_owner = 0;
  for (int i = 0; i < nfound; i++) {
    if (found[i].code != ENOENT) seen++;
    if (found[i].code == EACCES) foreign_owner = 1;
  }
  if (seen == 0) {
    int unwritable[N_BASES], all = 1;
    for (int b = 0; b < N_BASES; b++) {
      unwritable[b] = access(SOCKET_BASES[b], W_OK) == 0 ? 0 : (errno ? errno : EIO);
      if (unwritable[b] == 0) all = 0;
    }
    if (all) {
      buf_str(why, "the supervisor cannot have created its socket: no default place is writable (");
      for (int b = 0; b < N_BASES; b++) {
        char scratch[64];
        if (b > 0) buf_str(why, ", ");
        buf_str(why, SOCKET_BASES[b]);
        buf_chr(why, ' ');
        buf_str(why, errno_words(unwritable[b], scratch, sizeof scratch));
      }
      buf_str(why, "; we are uid ");
      put_long(why, uid);
      buf_str(why,
              "). Give the container a writable /dev/shm, or a writable volume and HOOKINIT_SOCKET "
              "pointing into it, for the supervisor and its clients alike");
      return;
    }
    buf_str(why, "no control socket at ");
    buf_str(why, nfound > 0 ? found[0].path : "");
    buf_str(why, " (nor at the ");
    put_long(why, nfound - 1);
    buf_str(why,
            " other default places): is hookinit this container's ENTRYPOINT, and does this command "
            "run inside the same container? (set HOOKINIT_SOCKET if the supervisor uses --socket; its "
            "log says why it has no socket)");
    return;
  }
  buf_str(why, "no supervisor of this container answers at the default places; found: ");
  int first = 1;
  for (int i = 0; i < nfound; i++) {
    const finding *f = &found[i];
    if (f->code == ENOENT) continue;
    if (!first) buf_str(why, "; ");
    first = 0;
    if (f->code == EACCES) {
      buf dir = {0};
      put_dirname(&dir, f->path);
      struct stat st;
      buf_add(why, dir.data, dir.len);
      buf_str(why, " belongs to uid ");
      if (dir.data != NULL && stat(dir.data, &st) == 0) put_long(why, (long)st.st_uid);
      else buf_chr(why, '?');
      buf_free(&dir);
    } else if (f->code == FOREIGN) {
      buf_str(why, f->path);
      buf_str(why, " is served by another container's supervisor");
    } else if (f->code == ECONNREFUSED) {
      buf_str(why, "nobody answers on ");
      buf_str(why, f->path);
      buf_str(why, " (left by a supervisor that is gone)");
    } else {
      buf_str(why, f->path);
      buf_str(why, ": ");
      buf_str(why, errno_name(f->code));
    }
  }
  if (foreign_owner) {
    buf_str(why, ". We are uid ");
    put_long(why, uid);
    buf_str(why,
            ": if hookinit runs as another user, run the hook as that user or as root; otherwise "
            "these are leftovers of other containers, and the supervisor's log says where it went");
  } else {
    buf_str(why, "; the supervisor's log says why it has no socket");
  }
}

// ---- one exchange ----------------------------------------------------------

typedef struct client client;
typedef void (*on_events)(client *c, jnode **events, int count);

struct client {
  const char *hook;  // the hook's name, for `hook`
  int have_exit;
  int exit_code;
  jnode *status;  // the last status event, for `status` and `ready`
  buf refusal;  // the last error event's message, for `status` and `ready`
  int have_refusal;
};

/** Reads event lines until the server closes; gives each chunk's events, in order, to `handle`. */
static void exchange_on(int fd, const char *request, client *c, on_events handle) {
  write_all(fd, request, strlen(request));
  char *chunk = malloc(READ_CHUNK);
  buf pending = {0};
  int skipping = 0;  // inside a line longer than MAX_LINE
  if (chunk == NULL) {
    close(fd);
    return;
  }
  for (;;) {
    ssize_t n = read(fd, chunk, READ_CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed, or the supervisor went away (ECONNRESET)
    jnode *events[64];
    int count = 0;
    char *p = chunk, *end = chunk + n;
    while (p < end) {
      char *nl = memchr(p, '\n', (size_t)(end - p));
      char *stop = nl != NULL ? nl : end;
      if (!skipping) buf_add(&pending, p, (size_t)(stop - p));
      if (pending.len > MAX_LINE || pending.failed) {
        skipping = 1;
        buf_free(&pending);
      }
      if (nl == NULL) break;
      p = nl + 1;
      if (skipping) {
        skipping = 0;
        continue;
      }
      buf clean = {0};
      utf8_sanitize(&clean, (const unsigned char *)(pending.data ? pending.data : ""), pending.len);
      pending.len = 0;
      jnode *event = clean.failed ? NULL : json_parse(clean.data ? clean.data : "", clean.len);
      buf_free(&clean);
      if (event_kind(event) == EV_NONE) {
        jfree(event);
        continue;
      }
      events[count++] = event;
      if (count == 64) {
        handle(c, events, count);
        count = 0;
      }
    }
    if (count > 0) handle(c, events, count);
  }
  buf_free(&pending);
  free(chunk);
  close(fd);
}

static void hook_events(client *c, jnode **events, int count) {
  // Runs of output on one stream go out in one write, in order.
  buf run = {0};
  int run_fd = 0;
  for (int i = 0; i < count; i++) {
    jnode *e = events[i];
    int kind = event_kind(e);
    if (kind == EV_OUTPUT) {
      int fd = is_string(get(e, "stream"), "stdout") ? 1 : 2;
      if (run_fd != 0 && run_fd != fd) {
        write_all(run_fd, run.data, run.len);
        run.len = 0;
      }
      run_fd = fd;
      jnode *line = get(e, "line"), *partial = get(e, "partial");
      put_text(&run, line->str, line->len);
      if (!(partial != NULL && partial->type == J_TRUE)) buf_chr(&run, '\n');
      jfree(e);
      continue;
    }
    if (run_fd != 0) {
      write_all(run_fd, run.data, run.len);
      run.len = 0;
      run_fd = 0;
    }
    if (kind == EV_RESULT) {
      jnode *error = get(e, "error");
      if (error != NULL) {
        buf line = {0};
        buf_str(&line, "hookinit: ");
        buf_str(&line, c->hook);
        buf_str(&line, " failed: ");
        put_text(&line, error->str, error->len);
        buf_chr(&line, '\n');
        write_all(2, line.data, line.len);
        buf_free(&line);
      }
      c->have_exit = 1;
      c->exit_code = (int)get(e, "exitCode")->num;
    } else if (kind == EV_ERROR) {
      jnode *message = get(e, "message"), *code = get(e, "code");
      buf line = {0};
      buf_str(&line, "hookinit: the supervisor refused: ");
      put_text(&line, message->str, message->len);
      buf_chr(&line, '\n');
      write_all(2, line.data, line.len);
      buf_free(&line);
      c->have_exit = 1;
      c->exit_code = is_string(code, "refused")    ? EXIT_UNREACHABLE
                     : is_string(code, "internal") ? EXIT_INTERNAL
                                                   : EXIT_USAGE;
    }
    jfree(e);
  }
  if (run_fd != 0) write_all(run_fd, run.data, run.len);
  buf_free(&run);
}

static void status_events(client *c, jnode **events, int count) {
  for (int i = 0; i < count; i++) {
    jnode *e = events[i];
    int kind = event_kind(e);
    if (kind == EV_STATUS) {
      jfree(c->status);
      c->status = e;
      continue;
    }
    if (kind == EV_ERROR) {
      jnode *message = get(e, "message");
      c->refusal.len = 0;
      put_text(&c->refusal, message->str, message->len);
      c->have_refusal = 1;
    }
    jfree(e);
  }
}

/**
 * Finds the supervisor and has one exchange with it. Returns 0 when the
 * exchange happened, else 1 with the reason in `why` (the Unreachable
 * message of src/ipc/client.ts).
 */
static int exchange(const char *request, const char *explicit_path, int wait, client *c,
                    on_events handle, buf *why) {
  long deadline = wait ? now_ms() + CONNECT_PATIENCE_MS : 0;
  finding found[N_CANDIDATES];
  for (;;) {
    int nfound = 0;
    int fd = connect_supervisor(explicit_path, found, &nfound);
    if (fd >= 0) {
      exchange_on(fd, request, c, handle);
      return 0;
    }
    if (now_ms() >= deadline) {
      explain(why, found, nfound, explicit_path);
      return 1;
    }
    sleep_ms(RETRY_MS);
  }
}

// ---- the commands (src/cli/main.ts) ----------------------------------------

static void say(const char *a, const char *b, const char *c) {
  buf line = {0};
  buf_str(&line, "hookinit: ");
  buf_str(&line, a);
  if (b != NULL) buf_str(&line, b);
  if (c != NULL) buf_str(&line, c);
  buf_chr(&line, '\n');
  write_all(2, line.data, line.len);
  buf_free(&line);
}

/** JSON.stringify of a command-line word (bytes decoded as Node decodes argv). */
static void put_arg(buf *b, const char *arg) {
  buf clean = {0};
  utf8_sanitize(&clean, (const unsigned char *)arg, strlen(arg));
  put_json_string(b, clean.data ? clean.data : "", clean.len);
  buf_free(&clean);
}

/** normalizeHookName: "pre-stop", "PRE_STOP" and "preStop" are the same; only postStart and preStop may be called. */
static const char *callable_hook(const char *name) {
  static const char *const callable[] = {"postStart", "preStop"};
  char key[64];
  size_t n = 0;
  for (const char *p = name; *p != '\0'; p++) {
    if (*p == '-' || *p == '_') continue;
    if (n + 1 >= sizeof key) return NULL;
    char ch = *p;
    key[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
  }
  key[n] = '\0';
  for (size_t i = 0; i < 2; i++) {
    if (strcasecmp(key, callable[i]) == 0) return callable[i];
  }
  return NULL;
}

/** The options of src/cli/options.ts that a client command reads from the environment. */
static int check_environment(void) {
  static const struct {
    const char *var, *flag, *allowed;
  } checks[] = {
      {"HOOKINIT_LOG_LEVEL", "--log-level", "trace|debug|info|warn|error|silent"},
      {"HOOKINIT_LOG_FORMAT", "--log-format", "json|text"},
  };
  for (size_t i = 0; i < 2; i++) {
    const char *value = getenv(checks[i].var);
    if (value == NULL || value[0] == '\0') continue;
    int ok = 0;
    const char *p = checks[i].allowed;
    size_t len = strlen(value);
    while (*p != '\0') {
      size_t word = strcspn(p, "|");
      if (word == len && strncmp(p, value, len) == 0) ok = 1;
      p += word;
      if (*p == '|') p++;
    }
    if (!ok) {
      buf line = {0};
      buf_str(&line, checks[i].flag);
      buf_chr(&line, ' ');
      put_arg(&line, value);
      buf_str(&line, " is not one of ");
      buf_str(&line, checks[i].allowed);
      say(line.data, NULL, NULL);
      buf_free(&line);
      return EXIT_USAGE;
    }
  }
  return 0;
}

int hookinit_client_main(int argc, char **argv) {
  if (argc < 2) return EXIT_USAGE;
  const char *command = argv[1];
  int nargs = argc - 2;
  char **args = argv + 2;
  int bad = check_environment();
  if (bad != 0) return bad;
  const char *socket_env = getenv("HOOKINIT_SOCKET");
  const char *explicit_path = socket_env != NULL && socket_env[0] != '\0' ? socket_env : NULL;

  client c;
  memset(&c, 0, sizeof c);
  buf why = {0};
  int code;

  if (strcmp(command, "hook") == 0) {
    if (nargs != 1) {
      say("usage: hookinit hook postStart|preStop", NULL, NULL);
      return EXIT_USAGE;
    }
    const char *hook = callable_hook(args[0]);
    if (hook == NULL) {
      buf line = {0};
      buf_str(&line, "unknown hook ");
      put_arg(&line, args[0]);
      buf_str(&line, "; use postStart or preStop");
      say(line.data, NULL, NULL);
      buf_free(&line);
      return EXIT_USAGE;
    }
    char request[64];
    snprintf(request, sizeof request, "{\"v\":1,\"op\":\"hook\",\"hook\":\"%s\"}\n", hook);
    c.hook = hook;
    if (exchange(request, explicit_path, 1, &c, hook_events, &why) == 0 && !c.have_exit) {
      why.len = 0;
      buf_str(&why, "the supervisor closed the connection before ");
      buf_str(&why, hook);
      buf_str(&why, " finished (did the container stop, or hookinit crash?)");
    } else if (why.len == 0) {
      return c.exit_code & 0xFF;
    }
    say("cannot reach the supervisor: ", why.data, NULL);
    buf_free(&why);
    return EXIT_UNREACHABLE;
  }

  int is_status = strcmp(command, "status") == 0;
  if (!is_status && strcmp(command, "ready") != 0) return EXIT_USAGE;
  if (nargs > 0) {
    buf line = {0};
    buf_str(&line, "hookinit ");
    buf_str(&line, command);
    buf_str(&line, " takes no arguments; got [");
    for (int i = 0; i < nargs; i++) {
      if (i > 0) buf_chr(&line, ',');
      put_arg(&line, args[i]);
    }
    buf_chr(&line, ']');
    say(line.data, NULL, NULL);
    buf_free(&line);
    return EXIT_USAGE;
  }
  const char *request = "{\"v\":1,\"op\":\"status\"}\n";
  // `ready` is a probe: it asks once and never waits for a supervisor.
  if (exchange(request, explicit_path, is_status, &c, status_events, &why) == 0 &&
      c.status == NULL) {
    why.len = 0;
    if (c.have_refusal) buf_add(&why, c.refusal.data ? c.refusal.data : "", c.refusal.len);
    else buf_str(&why, "the supervisor sent no status");
  }
  if (c.status == NULL) {
    if (is_status) {
      say("cannot reach the supervisor: ", why.data ? why.data : "", NULL);
      code = EXIT_UNREACHABLE;
    } else {
      say("not ready: cannot reach the supervisor: ", why.data ? why.data : "", NULL);
      code = EXIT_FAILURE_;
    }
  } else if (is_status) {
    buf out = {0};
    put_json(&out, c.status, 0, "type");
    buf_chr(&out, '\n');
    write_all(1, out.data, out.len);
    buf_free(&out);
    code = EXIT_OK;
  } else {
    jnode *ready = get(c.status, "ready");
    if (ready != NULL && ready->type == J_TRUE) {
      code = EXIT_OK;
    } else {
      jnode *phase = get(c.status, "phase");
      jnode *state = get(get(get(c.status, "hooks"), "postStart"), "state");
      buf line = {0};
      buf_str(&line, "not ready: phase ");
      if (phase != NULL && phase->type == J_STR) put_text(&line, phase->str, phase->len);
      else buf_str(&line, "unknown");
      buf_str(&line, ", postStart ");
      if (state != NULL && state->type == J_STR) put_text(&line, state->str, state->len);
      else buf_str(&line, "unknown");
      say(line.data, NULL, NULL);
      buf_free(&line);
      code = EXIT_FAILURE_;
    }
  }
  jfree(c.status);
  buf_free(&c.refusal);
  buf_free(&why);
  return code;
}
