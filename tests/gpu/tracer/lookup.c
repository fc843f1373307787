/* cuGetProcAddress(_v2) and cuGetExportTable: the two ways a program gets
 * driver functions other than by dlsym. Both log what the real library
 * answered and hand back the tracer's own trampolines, so calls through the
 * pointers are traced too. */
#define _GNU_SOURCE
#include "tracer.h"
#include "dark-api-ids.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

TR_HIDDEN int tr_find(const char *name);
TR_HIDDEN int tr_missing(void);

/* ---- cuGetProcAddress ------------------------------------------------------ */

/* What the real library handed out, as the name of its export, and the
 * pointer the tracer hands on (its own trampoline when it has one). */
static void *map_function(void *fn, char *name, size_t cap, int *traced)
{
    *traced = 0;
    if (!fn) {
        snprintf(name, cap, "NULL");
        return NULL;
    }
    Dl_info info;
    if (!dladdr(fn, &info)) {
        snprintf(name, cap, "?%p", fn);
        return fn;
    }
    if (!info.dli_sname) { /* not in any exported symbol: say where it lies */
        const char *file = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        snprintf(name, cap, "?%s+0x%lx", file ? file + 1 : info.dli_fname ? info.dli_fname : "",
                 (unsigned long)((uintptr_t)fn - (uintptr_t)info.dli_fbase));
        return fn;
    }
    if (info.dli_saddr != fn) {
        snprintf(name, cap, "?%s+0x%lx", info.dli_sname,
                 (unsigned long)((uintptr_t)fn - (uintptr_t)info.dli_saddr));
        return fn;
    }
    snprintf(name, cap, "%s", info.dli_sname);
    /* The real library may hand out the tracer's own export: its references
     * to its own names bind to the tracer when the tracer was loaded
     * RTLD_GLOBAL (the dynamic linker's interposition). */
    Dl_info self;
    if (dladdr((void *)map_function, &self) && self.dli_fbase == info.dli_fbase) {
        *traced = 1;
        return fn;
    }
    int idx = tr_find(info.dli_sname);
    if (idx < 0 || tr_real[idx] != fn)
        return fn;
    /* Several names at this address: dladdr picked one, whose typed
     * wrapper may pass fewer arguments than the function takes. */
    if (tr_is_aliased(idx)) {
        *traced = -1;
        return fn;
    }
    *traced = 1;
    return tr_self[idx];
}

static void symbol_field(tr_line *l, const char *symbol)
{
    if (!symbol) {
        tr_puts(l, " (null)");
        return;
    }
    if (!*symbol) {
        tr_puts(l, " \"\"");
        return;
    }
    tr_puts(l, " ");
    for (int i = 0; symbol[i] && i < 120; i++) {
        unsigned char c = (unsigned char)symbol[i];
        if (c <= 0x20 || c >= 0x7f)
            tr_printf(l, "\\x%02x", c);
        else
            tr_printf(l, "%c", c);
    }
}

typedef int (*proc_v1_fn)(const char *, void **, int, unsigned long long);
typedef int (*proc_v2_fn)(const char *, void **, int, unsigned long long, int *);

/* status: NULL for the v1 entry point (no status argument). */
static int get_proc_address(int v2, const char *symbol, void **pfn, int version,
                            unsigned long long flags, int *status)
{
    tr_line l;
    void *real = tr_call_begin(&l, tr_find(v2 ? "cuGetProcAddress_v2" : "cuGetProcAddress"));
    if (!real)
        return tr_missing();
    /* The real library writes into our variables, so "not written" can be
     * told apart and only what it wrote reaches the caller. */
    static char unwritten;
    void *got = &unwritten;
    int st = -77;
    int r = v2 ? ((proc_v2_fn)real)(symbol, pfn ? &got : NULL, version, flags, status ? &st : NULL)
               : ((proc_v1_fn)real)(symbol, pfn ? &got : NULL, version, flags);
    char name[256];
    int traced = 0;
    if (got == &unwritten) {
        snprintf(name, sizeof name, "untouched");
    } else {
        void *handed = map_function(got, name, sizeof name, &traced);
        if (pfn)
            *pfn = handed;
    }
    if (status && st != -77)
        *status = st;
    tr_begin(&l, "P");
    symbol_field(&l, symbol);
    tr_printf(&l, " %d %llu -> %d ", version, flags, r);
    if (!v2)
        tr_puts(&l, "-");
    else if (!status)
        tr_puts(&l, "null");
    else if (st == -77)
        tr_puts(&l, "untouched");
    else
        tr_printf(&l, "%d", st);
    tr_printf(&l, " %s%s", name,
              got == &unwritten || !got ? ""
              : traced > 0             ? " traced"
              : traced < 0             ? " untraced-aliased"
                                       : " untraced");
    tr_end(&l);
    return r;
}

EXPORT int cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, unsigned long long flags)
{
    return get_proc_address(0, symbol, pfn, cudaVersion, flags, NULL);
}

EXPORT int cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                               unsigned long long flags, int *symbolStatus)
{
    return get_proc_address(1, symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* ---- cuGetExportTable ------------------------------------------------------ */

#define MAX_TABLES 16
#define MAX_SLOTS 64 /* trampolines per table; slots past it are passed untraced */
#define SIZE_LIMIT 0x10000 /* a larger slot 0 is a pointer, not a byte size */

enum mode { MODE_COPY, MODE_INPLACE, MODE_PASS };
static const char *const mode_names[] = {"copy", "inplace", "pass"};

struct table {
    unsigned char id[16];
    const void *real;
    const void *handed; /* what the caller gets: the copy, or the real table */
    int first;          /* first function slot: 1, or 0 for the CLS table */
    int nslots;         /* slots with a trampoline, counted from 0 */
    enum mode mode;
    char layout[32];
    void *real_slot[MAX_SLOTS];
};

static struct table tables[MAX_TABLES];
static int ntables;
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;

/* trampolines.S: MAX_TABLES * MAX_SLOTS stubs of 16 bytes; stub t*64+s
 * calls tr_slot_enter(t*64+s) and jumps to what it returns. */
extern const char tr_slot_stubs[] TR_HIDDEN;

/* ---- slot results (VGPU_TRACE_RESULTS) -------------------------------------
 * For the slots named in VGPU_TRACE_RESULTS ("1734dc26:4,1734dc26:13"), the
 * trampoline calls through a C wrapper instead of jumping, so the trace gets
 * what the slot returned and what its pointer arguments point at before and
 * after ("R" lines). For finding out what an unknown slot does: the wrapper
 * forwards six integer arguments only (no stack or vector arguments), so name
 * only slots whose "A" lines show they take no more. */

static __thread int pending_slot = -1;

static int wants_result(const struct table *t, int slot)
{
    const char *env = getenv("VGPU_TRACE_RESULTS");
    if (!env || !*env)
        return 0;
    char want[16];
    snprintf(want, sizeof want, "%02x%02x%02x%02x:%d", t->id[0], t->id[1], t->id[2], t->id[3], slot);
    size_t n = strlen(want);
    for (const char *p = env; (p = strstr(p, want)) != NULL; p += n)
        if ((p == env || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

static int page_prot(uintptr_t addr);

#define DUMP_BYTES 96

/* 96 bytes at each argument that points into readable memory. */
static void dump_args(const struct table *t, int slot, const char *when, const unsigned long *a)
{
    for (int i = 0; i < 6; i++) {
        if (a[i] < 0x10000)
            continue;
        int prot = page_prot(a[i]);
        if (prot < 0 || !(prot & PROT_READ) || page_prot(a[i] + DUMP_BYTES - 1) < 0)
            continue;
        tr_line l;
        tr_begin(&l, "R ");
        tr_printf(&l, "%02x%02x%02x%02x %d %s arg%d=%lx ", t->id[0], t->id[1], t->id[2], t->id[3], slot,
                  when, i, a[i]);
        const unsigned char *b = (const unsigned char *)(uintptr_t)a[i];
        for (int k = 0; k < DUMP_BYTES; k++)
            tr_printf(&l, "%02x%s", b[k], k % 8 == 7 ? " " : "");
        tr_end(&l);
    }
}

typedef unsigned long (*slot6_fn)(unsigned long, unsigned long, unsigned long, unsigned long,
                                  unsigned long, unsigned long);

static unsigned long slot_call_through(unsigned long a0, unsigned long a1, unsigned long a2,
                                       unsigned long a3, unsigned long a4, unsigned long a5)
{
    int id = pending_slot;
    pending_slot = -1;
    const struct table *t = &tables[id / MAX_SLOTS];
    int slot = id % MAX_SLOTS;
    const unsigned long a[6] = {a0, a1, a2, a3, a4, a5};
    dump_args(t, slot, "before", a);
    unsigned long r = ((slot6_fn)t->real_slot[slot])(a0, a1, a2, a3, a4, a5);
    tr_line l;
    tr_begin(&l, "R ");
    tr_printf(&l, "%02x%02x%02x%02x %d -> 0x%lx", t->id[0], t->id[1], t->id[2], t->id[3], slot, r);
    tr_end(&l);
    dump_args(t, slot, "after", a);
    return r;
}

TR_HIDDEN void *tr_slot_enter(int id, const unsigned long *regs)
{
    const struct table *t = &tables[id / MAX_SLOTS];
    int slot = id % MAX_SLOTS;
    tr_line l;
    tr_begin(&l, "S ");
    tr_printf(&l, "%02x%02x%02x%02x %d", t->id[0], t->id[1], t->id[2], t->id[3], slot);
    tr_end(&l);
    /* The slot's first six integer arguments, as they arrived (an "A" line,
     * so that S lines compare across runs). */
    tr_begin(&l, "A ");
    tr_printf(&l, "%02x%02x%02x%02x %d %lx %lx %lx %lx %lx %lx", t->id[0], t->id[1], t->id[2],
              t->id[3], slot, regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
    tr_end(&l);
    if (wants_result(t, slot)) {
        pending_slot = id;
        return (void *)slot_call_through;
    }
    return t->real_slot[slot];
}

static void *stub(int table, int slot)
{
    return (void *)(tr_slot_stubs + 16 * (table * MAX_SLOTS + slot));
}

/* Protection of the mapping holding addr, from /proc/self/maps; -1 if none. */
static int page_prot(uintptr_t addr)
{
    FILE *m = fopen("/proc/self/maps", "re");
    if (!m)
        return -1;
    char line[512];
    int prot = -1;
    while (fgets(line, sizeof line, m)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && addr >= lo && addr < hi) {
            prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
            break;
        }
    }
    fclose(m);
    return prot;
}

/* Points the real table's slots at the trampolines, where it lies (the
 * integrity check hashes the tables' addresses, so a copy would fail it). */
static int patch_in_place(struct table *t, int ti, int skip_slot)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)t->real & ~(uintptr_t)(page - 1);
    uintptr_t end = (uintptr_t)t->real + (size_t)t->nslots * sizeof(void *);
    int prots[4];
    int pages = (int)((end - start + (uintptr_t)page - 1) / (uintptr_t)page);
    if (pages > 4)
        return -1;
    for (int p = 0; p < pages; p++) {
        prots[p] = page_prot(start + (uintptr_t)p * (uintptr_t)page);
        if (prots[p] < 0)
            return -1;
        if (!(prots[p] & PROT_WRITE) &&
            mprotect((void *)(start + (uintptr_t)p * (uintptr_t)page), (size_t)page,
                     prots[p] | PROT_WRITE) != 0) {
            while (p-- > 0)
                mprotect((void *)(start + (uintptr_t)p * (uintptr_t)page), (size_t)page, prots[p]);
            return -1;
        }
    }
    void **slots = (void **)(uintptr_t)t->real;
    for (int s = t->first; s < t->nslots; s++)
        if (t->real_slot[s] && s != skip_slot)
            slots[s] = stub(ti, s);
    for (int p = 0; p < pages; p++)
        if (!(prots[p] & PROT_WRITE))
            mprotect((void *)(start + (uintptr_t)p * (uintptr_t)page), (size_t)page, prots[p]);
    return 0;
}

static enum mode wanted_mode(const unsigned char *id)
{
    const char *env = getenv("VGPU_TRACE_DARK");
    if (env && strcmp(env, "off") == 0)
        return MODE_PASS;
    if (env && strcmp(env, "copy") == 0)
        return MODE_COPY;
    if (memcmp(id, CUDART_ID, 16) == 0 || memcmp(id, INTEGRITY_ID, 16) == 0)
        return MODE_INPLACE;
    return MODE_COPY;
}

/* Called with tables_lock held, for a table not seen before. */
static struct table *add_table(const unsigned char *id, const void *real)
{
    if (ntables == MAX_TABLES)
        return NULL;
    int ti = ntables;
    struct table *t = &tables[ti];
    memset(t, 0, sizeof *t);
    memcpy(t->id, id, 16);
    t->real = real;
    t->handed = real;
    t->mode = wanted_mode(id);
    const uintptr_t *slots = real;
    size_t total; /* slots in the real table, counted from 0 */
    if (memcmp(id, CLS_ID, 16) == 0) {
        t->first = 0;
        total = 4;
        snprintf(t->layout, sizeof t->layout, "size=-");
    } else if (slots[0] >= 8 && slots[0] <= SIZE_LIMIT && slots[0] % 8 == 0) {
        t->first = 1;
        total = slots[0] / 8;
        snprintf(t->layout, sizeof t->layout, "size=0x%lx", (unsigned long)slots[0]);
    } else {
        /* No size slot we can read, so no length: hand the table on as is. */
        snprintf(t->layout, sizeof t->layout, "size=?0x%lx", (unsigned long)slots[0]);
        t->mode = MODE_PASS;
        total = 0;
    }
    t->nslots = total < MAX_SLOTS ? (int)total : MAX_SLOTS;
    for (int s = t->first; s < t->nslots; s++)
        t->real_slot[s] = (void *)slots[s];
    if (t->mode == MODE_COPY) {
        void **copy = calloc(total, sizeof(void *));
        if (!copy) {
            t->mode = MODE_PASS;
        } else {
            for (size_t s = 0; s < total; s++)
                copy[s] = (void *)slots[s];
            for (int s = t->first; s < t->nslots; s++)
                if (copy[s])
                    copy[s] = stub(ti, s);
            t->handed = copy;
        }
    } else if (t->mode == MODE_INPLACE) {
        int integrity = memcmp(id, INTEGRITY_ID, 16) == 0;
        /* INTEGRITY_CHECK[1] is hashed by its address: leave it alone. */
        if (patch_in_place(t, ti, integrity ? 1 : -1) != 0)
            t->mode = MODE_PASS;
    }
    ntables++;
    return t;
}

typedef int (*export_table_fn)(const void **, const void *);

EXPORT int cuGetExportTable(const void **ppExportTable, const void *pExportTableId)
{
    tr_line l;
    void *real = tr_call_begin(&l, tr_find("cuGetExportTable"));
    if (!real)
        return tr_missing();
    const void *got = NULL;
    int r = ((export_table_fn)real)(ppExportTable ? &got : NULL, pExportTableId);
    const unsigned char *id = pExportTableId;
    const struct table *t = NULL;
    int full = 0;
    if (r == 0 && got && id) {
        pthread_mutex_lock(&tables_lock);
        for (int i = 0; i < ntables && !t; i++)
            if (memcmp(tables[i].id, id, 16) == 0 && tables[i].real == got)
                t = &tables[i];
        if (!t)
            t = add_table(id, got);
        full = !t;
        pthread_mutex_unlock(&tables_lock);
    }
    if (ppExportTable)
        *ppExportTable = t ? t->handed : got;
    tr_begin(&l, "E ");
    if (id)
        for (int i = 0; i < 16; i++)
            tr_printf(&l, "%02x", id[i]);
    else
        tr_puts(&l, "(null)");
    tr_printf(&l, " -> %d", r);
    if (t)
        tr_printf(&l, " %s %s slots=%d", t->layout, mode_names[t->mode], t->nslots);
    else if (r == 0 && got)
        tr_printf(&l, " size=0x%lx pass%s", (unsigned long)*(const uintptr_t *)got,
                  full ? " (too many tables)" : "");
    else
        tr_puts(&l, " size=-");
    tr_end(&l);
    return r;
}
