// Virtual memory management as ggml-cuda's pool and PyTorch's expandable
// segments use it, through the driver API that cudart hands out
// (cudaGetDriverEntryPointByVersion, so no -lcuda): reserve address space,
// create chunks of the granularity, map them side by side, set access, use
// the span from kernels and copies as one buffer, then unmap, release and
// free.
#include "harness.h"

#include <cudaTypedefs.h>

__global__ void scale_add(int *p, int n, int k) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = p[i] * k + i;
}

#define VMM_CK(call)                                                               \
    do {                                                                           \
        CUresult ck_r_ = (call);                                                   \
        if (ck_r_ != CUDA_SUCCESS) fail(std::string(#call) + ": CUresult " + std::to_string((int)ck_r_)); \
    } while (0)

// The driver entry points, from cudart.
struct Vmm {
    PFN_cuMemGetAllocationGranularity_v10020 granularity;
    PFN_cuMemAddressReserve_v10020 reserve;
    PFN_cuMemAddressFree_v10020 address_free;
    PFN_cuMemCreate_v10020 create;
    PFN_cuMemRelease_v10020 release;
    PFN_cuMemMap_v10020 map;
    PFN_cuMemUnmap_v10020 unmap;
    PFN_cuMemSetAccess_v10020 set_access;
    PFN_cuMemGetAccess_v10020 get_access;
    PFN_cuMemRetainAllocationHandle_v11000 retain;
    PFN_cuMemGetAllocationPropertiesFromHandle_v10020 properties;
    PFN_cuDeviceGetAttribute_v2000 device_attribute;
};

template <typename F>
static void entry(const char *name, F &f) {
    void *p = nullptr;
    cudaDriverEntryPointQueryResult status;
    CK(cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status));
    if (status != cudaDriverEntryPointSuccess || p == nullptr) fail(std::string("no driver entry point ") + name);
    f = reinterpret_cast<F>(p);
}

static Vmm &vmm() {
    static Vmm v;
    static bool loaded = false;
    if (!loaded) {
        entry("cuMemGetAllocationGranularity", v.granularity);
        entry("cuMemAddressReserve", v.reserve);
        entry("cuMemAddressFree", v.address_free);
        entry("cuMemCreate", v.create);
        entry("cuMemRelease", v.release);
        entry("cuMemMap", v.map);
        entry("cuMemUnmap", v.unmap);
        entry("cuMemSetAccess", v.set_access);
        entry("cuMemGetAccess", v.get_access);
        entry("cuMemRetainAllocationHandle", v.retain);
        entry("cuMemGetAllocationPropertiesFromHandle", v.properties);
        entry("cuDeviceGetAttribute", v.device_attribute);
        loaded = true;
    }
    return v;
}

static CUmemAllocationProp pinned_on_device0() {
    CUmemAllocationProp p;
    std::memset(&p, 0, sizeof p);
    p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    p.location.id = 0;
    return p;
}

static size_t granularity() {
    CUmemAllocationProp p = pinned_on_device0();
    size_t g = 0;
    VMM_CK(vmm().granularity(&g, &p, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    if (g == 0 || (g & (g - 1)) != 0) fail("granularity " + std::to_string(g));
    return g;
}

static void set_rw(CUdeviceptr at, size_t size) {
    CUmemAccessDesc d;
    std::memset(&d, 0, sizeof d);
    d.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    d.location.id = 0;
    d.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    VMM_CK(vmm().set_access(at, size, &d, 1));
}

static std::string attribute() {
    // ggml-cuda asks the driver (cudart has no name for it).
    int vmm_supported = -1;
    VMM_CK(vmm().device_attribute(&vmm_supported, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
    expect_value("CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED", vmm_supported, 1);
    size_t g = granularity();
    return "VMM supported; granularity " + std::to_string(g >> 10) + " KiB";
}

// Three chunks mapped side by side in an eight-chunk reservation; kernels
// straddle both boundaries, a memset and a copy cover the whole span.
static std::string side_by_side() {
    Vmm &v = vmm();
    const size_t g = granularity();
    const int chunks = 3;
    CUdeviceptr base = 0;
    VMM_CK(v.reserve(&base, 8 * g, 0, 0, 0));
    CUmemAllocationProp prop = pinned_on_device0();
    CUmemGenericAllocationHandle h[chunks];
    for (int i = 0; i < chunks; i++) {
        VMM_CK(v.create(&h[i], g, &prop, 0));
        VMM_CK(v.map(base + i * g, g, 0, h[i], 0));
    }
    set_rw(base, chunks * g);
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    unsigned long long flags = 0;
    VMM_CK(v.get_access(&flags, &loc, base + g + 4096));
    expect_value("cuMemGetAccess", flags, (unsigned long long)CU_MEM_ACCESS_FLAGS_PROT_READWRITE);

    int *p = reinterpret_cast<int *>(base);
    const size_t span = chunks * g, words = span / sizeof(int);
    CK(cudaMemset(p, 0, span));
    // A window of 16384 ints around each boundary between chunks.
    const int window = 16384;
    std::vector<int> host(words, 0);
    for (int b = 1; b < chunks; b++) {
        size_t first = b * g / sizeof(int) - window / 2;
        std::vector<int> in(window);
        for (int i = 0; i < window; i++) in[i] = (int)((first + i) % 1009) - 500;
        CK(cudaMemcpy(p + first, in.data(), window * sizeof(int), cudaMemcpyHostToDevice));
        scale_add<<<window / 256, 256>>>(p + first, window, 3 + b);
        CK_LAUNCH();
        for (int i = 0; i < window; i++) host[first + i] = in[i] * (3 + b) + i;
    }
    std::vector<int> got(words);
    CK(cudaMemcpy(got.data(), p, span, cudaMemcpyDeviceToHost));
    // Device to device across a boundary, back into the first chunk's start.
    CK(cudaMemcpy(p, p + g / sizeof(int) - window / 2, window * sizeof(int), cudaMemcpyDeviceToDevice));
    std::vector<int> moved(window);
    CK(cudaMemcpy(moved.data(), p, window * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaDeviceSynchronize());

    CUmemGenericAllocationHandle again = 0;
    VMM_CK(v.retain(&again, reinterpret_cast<void *>(base + 2 * g + 64)));
    CUmemAllocationProp back;
    std::memset(&back, 0, sizeof back);
    VMM_CK(v.properties(&back, again));
    VMM_CK(v.release(again));
    if (again != h[2]) fail("cuMemRetainAllocationHandle: another handle");
    if (back.type != CU_MEM_ALLOCATION_TYPE_PINNED || back.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        back.location.id != 0 || back.requestedHandleTypes != CU_MEM_HANDLE_TYPE_NONE)
        fail("cuMemGetAllocationPropertiesFromHandle: not what was asked");

    VMM_CK(v.unmap(base, chunks * g));
    for (int i = 0; i < chunks; i++) VMM_CK(v.release(h[i]));
    VMM_CK(v.address_free(base, 8 * g));

    expect_equal("span", got, host);
    std::vector<int> want_moved(host.begin() + g / sizeof(int) - window / 2,
                                host.begin() + g / sizeof(int) + window / 2);
    expect_equal("moved", moved, want_moved);
    digest("side_by_side", {bytes_of(got), bytes_of(moved)});
    return std::to_string(chunks) + " chunks of " + std::to_string(g >> 20) +
           " MiB as one buffer: kernels over both boundaries, memset, copies";
}

// ggml's order: each chunk is released right after it is mapped (the
// mapping keeps the memory), access is set per chunk as the pool grows, and
// the memory goes with the unmap.
static std::string release_while_mapped() {
    Vmm &v = vmm();
    const size_t g = granularity();
    CUdeviceptr base = 0;
    VMM_CK(v.reserve(&base, 4 * g, 0, 0, 0));
    CUmemAllocationProp prop = pinned_on_device0();
    for (int i = 0; i < 2; i++) {
        CUmemGenericAllocationHandle h;
        VMM_CK(v.create(&h, g, &prop, 0));
        VMM_CK(v.map(base + i * g, g, 0, h, 0));
        VMM_CK(v.release(h));
        set_rw(base + i * g, g);
    }
    cudaPointerAttributes attrs;
    CK(cudaPointerGetAttributes(&attrs, reinterpret_cast<void *>(base + g + 8)));
    if (attrs.type != cudaMemoryTypeDevice || attrs.device != 0)
        fail("cudaPointerGetAttributes: type " + std::to_string((int)attrs.type) + " device " +
             std::to_string(attrs.device));
    const int n = 8192;
    int *p = reinterpret_cast<int *>(base + g) - n / 2;
    std::vector<int> in(n), want(n), got(n);
    for (int i = 0; i < n; i++) {
        in[i] = i * 7 - 3;
        want[i] = in[i] * 5 + i;
    }
    CK(cudaMemcpy(p, in.data(), n * sizeof(int), cudaMemcpyHostToDevice));
    scale_add<<<n / 256, 256>>>(p, n, 5);
    CK_LAUNCH();
    CK(cudaMemcpy(got.data(), p, n * sizeof(int), cudaMemcpyDeviceToHost));
    VMM_CK(v.unmap(base, 2 * g));
    VMM_CK(v.address_free(base, 4 * g));
    expect_equal("out", got, want);
    digest("release_while_mapped", {bytes_of(got)});
    return "two chunks released while mapped, used across their boundary, then unmapped";
}

int main() {
    return run_program({
        {"attribute", attribute},
        {"side_by_side", side_by_side},
        {"release_while_mapped", release_while_mapped},
    });
}
