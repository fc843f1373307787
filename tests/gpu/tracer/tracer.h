/* Internal interface of the driver-call tracer: the hand-written core
 * (tracer.c, trampolines.S) and the code gen.py generates from the CUDA
 * headers (calls.c, stubs.S, names.c). Nothing here needs CUDA at run time. */
#ifndef VGPU_TRACER_H
#define VGPU_TRACER_H

#include <stddef.h>

#define TR_HIDDEN __attribute__((visibility("hidden")))

/* One log line, built in place and written with one write(2) so lines of
 * different threads never interleave. */
#define TR_LINE_MAX 2048
typedef struct {
    size_t len;
    int mute;                /* built for the timing totals only, not written */
    unsigned long long t0;   /* VGPU_TRACE_TIME: when the real call started, ns */
    char buf[TR_LINE_MAX];
} tr_line;

/* The generated name table, sorted by strcmp (names.c). */
extern const char *const tr_names[] TR_HIDDEN;
extern void *const tr_self[] TR_HIDDEN; /* the tracer's own export for each name */
extern const int tr_name_count TR_HIDDEN;
extern void *tr_real[] TR_HIDDEN; /* the real library's export, NULL if it has none */

/* Result returned where the real library lacks an export the tracer has. */
#define TR_ABSENT 500 /* CUDA_ERROR_NOT_FOUND */
/* Result returned when the real library could not be loaded. */
#define TR_NO_REAL 3 /* CUDA_ERROR_NOT_INITIALIZED */

TR_HIDDEN void tr_init(void);
TR_HIDDEN int tr_ready(void); /* init done and the real library loaded */
/* The real export of this name is also another name's: which ABI a
 * pointer to it has cannot be told from its address. */
TR_HIDDEN int tr_is_aliased(int idx);

TR_HIDDEN void tr_begin(tr_line *l, const char *kind);
TR_HIDDEN void tr_puts(tr_line *l, const char *s);
TR_HIDDEN void tr_printf(tr_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
TR_HIDDEN void tr_end(tr_line *l);

/* Typed wrappers: start a "C <name>" line (also logs the entry when asked),
 * print arguments, then the result and the output values. */
TR_HIDDEN void *tr_call_begin(tr_line *l, int idx);
TR_HIDDEN void tr_call_result(tr_line *l, int idx, int result);

/* Argument printers, picked by TR_ARG's _Generic; p points at the value. */
TR_HIDDEN void tr_a_int(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_uint(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_hex(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_float(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_double(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_str(tr_line *l, const char *name, const void *p, size_t n);
TR_HIDDEN void tr_a_raw(tr_line *l, const char *name, const void *p, size_t n);

/* Signed integers in decimal, unsigned ints and size_t in decimal,
 * unsigned long long (CUdeviceptr) and pointers in hex, const char * as a
 * quoted string, anything else (structs passed by value, handles) as raw
 * bytes. Enums are compatible with int or unsigned int. */
#define TR_PRINTER(x)                                                       \
    _Generic((x),                                                           \
        char: tr_a_int, signed char: tr_a_int, short: tr_a_int,             \
        int: tr_a_int, long: tr_a_int, long long: tr_a_int,                 \
        unsigned char: tr_a_uint, unsigned short: tr_a_uint,                \
        unsigned int: tr_a_uint, unsigned long: tr_a_uint,                  \
        unsigned long long: tr_a_hex, float: tr_a_float,                    \
        double: tr_a_double, const char *: tr_a_str, default: tr_a_raw)
#define TR_ARG(l, name, x)                                                  \
    do {                                                                    \
        __typeof__(x) tr_v_ = (x);                                          \
        TR_PRINTER(tr_v_)((l), (name), &tr_v_, sizeof tr_v_);               \
    } while (0)

#endif
