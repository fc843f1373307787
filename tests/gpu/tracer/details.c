/* What some typed wrappers print beyond their arguments' values: the
 * contents of the structures and option arrays those arguments point at.
 * gen.py calls tr_detail_<name>(line, <the call's arguments>) from the
 * wrapper of every <name> defined here, after the call. */
#include "tracer.h"

#include <cuda.h>
#include <string.h>

/* The kind of a module image, from its first bytes (the kinds cudart and
 * cuBLAS hand the driver: fatbin wrapper, fatbin, ELF cubin, PTX text) and its first
 * four bytes as a little-endian number. */
static void image_kind(tr_line *l, const void *image)
{
    if (!image)
        return;
    unsigned char b[4];
    memcpy(b, image, sizeof b);
    unsigned int magic = b[0] | b[1] << 8 | b[2] << 16 | (unsigned int)b[3] << 24;
    int text = 1;
    for (int i = 0; i < 4; i++)
        text &= (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' || b[i] == '\t' || b[i] == '\r';
    const char *kind = magic == 0x466243b1u   ? "fatbin-wrapper"
                       : magic == 0xba55ed50u ? "fatbin"
                       : magic == 0x464c457fu ? "elf"
                       : text                 ? "text"
                                              : "other";
    tr_printf(l, " kind=%s:0x%08x", kind, magic);
}

/* Option ids with their values, as pointers (what each value means
 * depends on the id), or the ids alone. */
static void options(tr_line *l, const char *what, unsigned int n, const int *ids, void *const *values)
{
    if (n == 0)
        return;
    tr_printf(l, " %s=[", what);
    for (unsigned int i = 0; i < n && i < 32; i++)
        if (values)
            tr_printf(l, "%s%d:%p", i ? "," : "", ids ? ids[i] : -1, values[i]);
        else
            tr_printf(l, "%s%d", i ? "," : "", ids ? ids[i] : -1);
    tr_puts(l, n > 32 ? ",...]" : "]");
}

static void launch_config(tr_line *l, const CUlaunchConfig *c)
{
    if (!c)
        return;
    tr_printf(l, " grid=%ux%ux%u block=%ux%ux%u shmem=%u stream=%p", c->gridDimX, c->gridDimY,
              c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ, c->sharedMemBytes,
              (void *)c->hStream);
    if (c->numAttrs == 0 || !c->attrs)
        return;
    tr_puts(l, " attrs=[");
    for (unsigned int i = 0; i < c->numAttrs && i < 16; i++) {
        unsigned long long v[2];
        memcpy(v, &c->attrs[i].value, sizeof v);
        tr_printf(l, "%s%d:0x%llx,0x%llx", i ? " " : "", (int)c->attrs[i].id, v[0], v[1]);
    }
    tr_puts(l, "]");
}

void tr_detail_cuLaunchKernelEx(tr_line *l, const CUlaunchConfig *config, CUfunction f,
                                void **kernelParams, void **extra)
{
    (void)f, (void)kernelParams, (void)extra;
    launch_config(l, config);
}

void tr_detail_cuLaunchKernelEx_ptsz(tr_line *l, const CUlaunchConfig *config, CUfunction f,
                                     void **kernelParams, void **extra)
{
    (void)f, (void)kernelParams, (void)extra;
    launch_config(l, config);
}

void tr_detail_cuLibraryLoadData(tr_line *l, CUlibrary *library, const void *code,
                                 CUjit_option *jitOptions, void **jitOptionsValues,
                                 unsigned int numJitOptions, CUlibraryOption *libraryOptions,
                                 void **libraryOptionValues, unsigned int numLibraryOptions)
{
    (void)library;
    image_kind(l, code);
    options(l, "jit", numJitOptions, (const int *)jitOptions, jitOptionsValues);
    options(l, "lib", numLibraryOptions, (const int *)libraryOptions, libraryOptionValues);
}

void tr_detail_cuLibraryLoadFromFile(tr_line *l, CUlibrary *library, const char *fileName,
                                     CUjit_option *jitOptions, void **jitOptionsValues,
                                     unsigned int numJitOptions, CUlibraryOption *libraryOptions,
                                     void **libraryOptionValues, unsigned int numLibraryOptions)
{
    (void)library, (void)fileName;
    options(l, "jit", numJitOptions, (const int *)jitOptions, jitOptionsValues);
    options(l, "lib", numLibraryOptions, (const int *)libraryOptions, libraryOptionValues);
}

void tr_detail_cuModuleLoadData(tr_line *l, CUmodule *module, const void *image)
{
    (void)module;
    image_kind(l, image);
}

void tr_detail_cuModuleLoadFatBinary(tr_line *l, CUmodule *module, const void *fatCubin)
{
    (void)module;
    image_kind(l, fatCubin);
}

void tr_detail_cuModuleLoadDataEx(tr_line *l, CUmodule *module, const void *image,
                                  unsigned int numOptions, CUjit_option *options_,
                                  void **optionValues)
{
    (void)module;
    image_kind(l, image);
    options(l, "jit", numOptions, (const int *)options_, optionValues);
}

void tr_detail_cuPointerGetAttributes(tr_line *l, unsigned int numAttributes,
                                      CUpointer_attribute *attributes, void **data, CUdeviceptr ptr)
{
    (void)data, (void)ptr;
    options(l, "attrs", numAttributes, (const int *)attributes, NULL);
}
