/* The tracer's core: loading the real driver library, the log, argument
 * printers and the entry point of the untyped trampolines.
 * README.md says what a trace looks like. */
#define _GNU_SOURCE
#include "tracer.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int log_fd = 2;
static int ready;
static int entries;
/* VGPU_TRACE_TIME: 1 adds each typed call's duration (t=<ns>) to its line,
 * "summary" writes no call lines; both write per-name totals at exit. */
static int timing, timing_quiet;
static unsigned long long *call_count, *call_ns;
/* 0 for the tracer a program loads; a tracer in front of another tracer
 * tells that one its depth, which then reads VGPU_TRACE_REAL_<depth> and
 * VGPU_TRACE_OUT_<depth> (a chain of tracers is how the tracer tests itself). */
static int depth;
static void *real_lib;
static __thread long thread_id;

__attribute__((visibility("default"))) void vgpu_trace_set_depth(int d) { depth = d; }

int tr_ready(void) { return ready; }

/* ---- log lines ---------------------------------------------------------- */

void tr_puts(tr_line *l, const char *s)
{
    size_t n = strlen(s);
    size_t room = TR_LINE_MAX - 1 - l->len; /* keep one byte for '\n' */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

void tr_printf(tr_line *l, const char *fmt, ...)
{
    size_t room = TR_LINE_MAX - 1 - l->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < room ? (size_t)n : room;
}

static unsigned long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

void tr_begin(tr_line *l, const char *kind)
{
    if (!thread_id)
        thread_id = syscall(SYS_gettid);
    l->len = 0;
    l->mute = 0;
    tr_printf(l, "%ld %s", thread_id, kind);
}

void tr_end(tr_line *l)
{
    if (l->mute)
        return;
    int saved = errno; /* the traced program must not see our write's errno */
    l->buf[l->len++] = '\n';
    const char *p = l->buf;
    size_t left = l->len;
    while (left > 0) {
        ssize_t w = write(log_fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    errno = saved;
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
    tr_line l;
    tr_begin(&l, "I ");
    va_list ap;
    va_start(ap, fmt);
    size_t room = TR_LINE_MAX - 1 - l.len;
    int n = vsnprintf(l.buf + l.len, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        l.len += (size_t)n < room ? (size_t)n : room;
    tr_end(&l);
}

/* ---- loading the real library ------------------------------------------- */

static int name_index(const char *name)
{
    int lo = 0, hi = tr_name_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(tr_names[mid], name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

TR_HIDDEN int tr_find(const char *name) { return name ? name_index(name) : -1; }

/* Logs "X <name>" for every cu* function the real library exports that the
 * tracer does not: a program that dlsym()s one of those gets NULL here and
 * a function natively. Read from the file's .dynsym. */
static void report_untraced(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        if (fd >= 0)
            close(fd);
        info("cannot read %s to list its exports", path);
        return;
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return;
    const Elf64_Ehdr *eh = (const void *)f;
    int missing = 0;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size)
        goto out;
    const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strs->sh_offset + strs->sh_size > size)
            goto out;
        const Elf64_Sym *sym = (const void *)(f + sh[i].sh_offset);
        size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
        const char *names = (const char *)(f + strs->sh_offset);
        for (size_t k = 0; k < count; k++) {
            int type = ELF64_ST_TYPE(sym[k].st_info), bind = ELF64_ST_BIND(sym[k].st_info);
            if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= strs->sh_size ||
                (type != STT_FUNC && type != STT_GNU_IFUNC) || (bind != STB_GLOBAL && bind != STB_WEAK))
                continue;
            const char *n = names + sym[k].st_name;
            if (strncmp(n, "cu", 2) == 0 && strnlen(n, strs->sh_size - sym[k].st_name) <
                                                  strs->sh_size - sym[k].st_name &&
                name_index(n) < 0) {
                tr_line l;
                tr_begin(&l, "X ");
                tr_puts(&l, n);
                tr_end(&l);
                missing++;
            }
        }
    }
out:
    munmap((void *)f, size);
    info("real exports the tracer lacks: %d", missing);
}

/* Names whose real export shares its address with another name's. */
static unsigned char *aliased;

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)tr_real[*(const int *)a], y = (uintptr_t)tr_real[*(const int *)b];
    return x < y ? -1 : x > y;
}

static void find_aliases(void)
{
    int *order = malloc(sizeof(int) * (size_t)tr_name_count);
    aliased = calloc((size_t)tr_name_count, 1);
    if (!order || !aliased) {
        free(order);
        return;
    }
    for (int i = 0; i < tr_name_count; i++)
        order[i] = i;
    qsort(order, (size_t)tr_name_count, sizeof(int), by_address);
    int n = 0;
    for (int i = 1; i < tr_name_count; i++) {
        void *here = tr_real[order[i]];
        if (here && here == tr_real[order[i - 1]]) {
            n += !aliased[order[i - 1]] + 1;
            aliased[order[i]] = aliased[order[i - 1]] = 1;
            info("alias: %s = %s", tr_names[order[i - 1]], tr_names[order[i]]);
        }
    }
    free(order);
    if (n)
        info("%d names share their address with another", n);
}

int tr_is_aliased(int idx) { return aliased && aliased[idx]; }

static const char *env_at_depth(const char *base)
{
    if (depth == 0)
        return getenv(base);
    char name[64];
    snprintf(name, sizeof name, "%s_%d", base, depth);
    return getenv(name);
}

/* At exit (VGPU_TRACE_TIME): "T <name> calls=N total_us=U mean_ns=M" for
 * each typed call made. */
static void write_totals(void)
{
    for (int i = 0; i < tr_name_count; i++) {
        unsigned long long n = __atomic_load_n(&call_count[i], __ATOMIC_RELAXED);
        if (!n)
            continue;
        unsigned long long ns = __atomic_load_n(&call_ns[i], __ATOMIC_RELAXED);
        tr_line l;
        tr_begin(&l, "T ");
        tr_printf(&l, "%s calls=%llu total_us=%llu mean_ns=%llu", tr_names[i], n, ns / 1000, ns / n);
        tr_end(&l);
    }
}

static void init_once_body(void)
{
    const char *out = env_at_depth("VGPU_TRACE_OUT");
    if (out && *out) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            log_fd = fd;
        else
            fprintf(stderr, "vgpu tracer: cannot open %s: %s\n", out, strerror(errno));
    }
    const char *e = env_at_depth("VGPU_TRACE_ENTER");
    entries = e && *e == '1';
    const char *t = env_at_depth("VGPU_TRACE_TIME");
    if (t && (*t == '1' || strcmp(t, "summary") == 0)) {
        call_count = calloc((size_t)tr_name_count, sizeof *call_count);
        call_ns = calloc((size_t)tr_name_count, sizeof *call_ns);
        if (call_count && call_ns) {
            timing = 1;
            timing_quiet = *t == 's';
            atexit(write_totals);
        }
    }
    const char *path = env_at_depth("VGPU_TRACE_REAL");
    info("tracer depth=%d pid=%d real=%s names=%d", depth, (int)getpid(), path ? path : "(unset)",
         tr_name_count);
    if (!path || *path != '/') {
        info("error: VGPU_TRACE_REAL must be the absolute path of the real libcuda.so.1");
        fprintf(stderr, "vgpu tracer: VGPU_TRACE_REAL must be the absolute path of the real libcuda.so.1\n");
        return;
    }
    real_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!real_lib) {
        const char *why = dlerror();
        info("error: dlopen %s: %s", path, why ? why : "?");
        fprintf(stderr, "vgpu tracer: dlopen %s: %s\n", path, why ? why : "?");
        return;
    }
    void (*set_depth)(int) = (void (*)(int))dlsym(real_lib, "vgpu_trace_set_depth");
    if (set_depth == vgpu_trace_set_depth) {
        info("error: VGPU_TRACE_REAL %s is this tracer", path);
        fprintf(stderr, "vgpu tracer: VGPU_TRACE_REAL %s is this tracer\n", path);
        return;
    }
    if (set_depth)
        set_depth(depth + 1);
    const char *list = env_at_depth("VGPU_TRACE_ABSENT");
    int found = 0;
    for (int i = 0; i < tr_name_count; i++) {
        tr_real[i] = dlsym(real_lib, tr_names[i]);
        found += tr_real[i] != NULL;
        if (!tr_real[i] && list && *list == '1') {
            tr_line l;
            tr_begin(&l, "A ");
            tr_puts(&l, tr_names[i]);
            tr_end(&l);
        }
    }
    info("real exports found for %d of %d names%s", found, tr_name_count,
         list && *list == '1' ? " (A: the others)" : "");
    find_aliases();
    report_untraced(path);
    ready = 1;
}

/* Set while this thread loads the real library: a call that its
 * constructors make back into the tracer (through interposition) must not
 * wait for the load it is part of. */
static __thread int loading;

void tr_init(void)
{
    if (loading)
        return;
    loading = 1;
    pthread_once(&init_once, init_once_body);
    loading = 0;
}


/* ---- wrappers ------------------------------------------------------------ */

static int absent_result(void) { return TR_ABSENT; }
static int no_real_result(void) { return TR_NO_REAL; }

/* Called by every untyped trampoline (trampolines.S) with the argument
 * registers saved: logs the call and returns where to jump. */
TR_HIDDEN void *tr_enter_generic(int idx)
{
    tr_init();
    tr_line l;
    tr_begin(&l, "C ");
    tr_puts(&l, tr_names[idx]);
    if (!ready || !tr_real[idx])
        tr_puts(&l, ready ? " -> 500 (absent in real)" : " -> 3 (no real library)");
    tr_end(&l);
    if (!ready)
        return (void *)no_real_result;
    return tr_real[idx] ? tr_real[idx] : (void *)absent_result;
}

void *tr_call_begin(tr_line *l, int idx)
{
    tr_init();
    if (entries) {
        tr_begin(l, "c ");
        tr_puts(l, tr_names[idx]);
        tr_end(l);
    }
    tr_begin(l, "C ");
    tr_puts(l, tr_names[idx]);
    l->mute = timing_quiet;
    if (timing)
        l->t0 = now_ns();
    return ready ? tr_real[idx] : NULL;
}

TR_HIDDEN int tr_missing(void) { return ready ? TR_ABSENT : TR_NO_REAL; }

void tr_call_result(tr_line *l, int idx, int result)
{
    if (timing) {
        /* Arguments are printed after the call: their time is ours, not
         * the call's, but it is the same on both sides. */
        unsigned long long dt = now_ns() - l->t0;
        __atomic_fetch_add(&call_count[idx], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&call_ns[idx], dt, __ATOMIC_RELAXED);
        if (!timing_quiet)
            tr_printf(l, " t=%llu", dt);
    }
    tr_printf(l, " -> %d", result);
    if (!ready || !tr_real[idx])
        tr_puts(l, ready ? " (absent in real)" : " (no real library)");
}

/* ---- argument printers --------------------------------------------------- */

void tr_a_int(tr_line *l, const char *name, const void *p, size_t n)
{
    long long v = 0;
    if (n == 1) v = *(const signed char *)p;
    else if (n == 2) { short s; memcpy(&s, p, 2); v = s; }
    else if (n == 4) { int i; memcpy(&i, p, 4); v = i; }
    else memcpy(&v, p, 8);
    tr_printf(l, " %s=%lld", name, v);
}

void tr_a_uint(tr_line *l, const char *name, const void *p, size_t n)
{
    unsigned long long v = 0;
    memcpy(&v, p, n < 8 ? n : 8); /* little endian */
    tr_printf(l, " %s=%llu", name, v);
}

void tr_a_hex(tr_line *l, const char *name, const void *p, size_t n)
{
    unsigned long long v = 0;
    memcpy(&v, p, n < 8 ? n : 8);
    tr_printf(l, " %s=0x%llx", name, v);
}

void tr_a_float(tr_line *l, const char *name, const void *p, size_t n)
{
    (void)n;
    float f;
    memcpy(&f, p, sizeof f);
    tr_printf(l, " %s=%g", name, (double)f);
}

void tr_a_double(tr_line *l, const char *name, const void *p, size_t n)
{
    (void)n;
    double d;
    memcpy(&d, p, sizeof d);
    tr_printf(l, " %s=%g", name, d);
}

void tr_a_str(tr_line *l, const char *name, const void *p, size_t n)
{
    (void)n;
    const char *s;
    memcpy(&s, p, sizeof s);
    if (!s) {
        tr_printf(l, " %s=(null)", name);
        return;
    }
    tr_printf(l, " %s=\"", name);
    for (int i = 0; s[i] && i < 160; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            tr_printf(l, "\\x%02x", c);
        else
            tr_printf(l, "%c", c);
    }
    tr_puts(l, strlen(s) > 160 ? "\"..." : "\"");
}

/* Pointers, handles and structs passed by value. */
void tr_a_raw(tr_line *l, const char *name, const void *p, size_t n)
{
    if (n == 8) {
        tr_a_hex(l, name, p, n);
        return;
    }
    if (n > 16) {
        tr_printf(l, " %s={%zuB}", name, n);
        return;
    }
    tr_printf(l, " %s={", name);
    for (size_t i = 0; i < n; i++)
        tr_printf(l, "%02x", ((const unsigned char *)p)[i]);
    tr_puts(l, "}");
}
