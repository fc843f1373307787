// Device discovery through cudart: cudaGetDeviceProperties (name and
// compute capability printed), agreement with cudaDeviceGetAttribute,
// versions, PCI bus id. Values differ between devices: printed and checked
// for sanity and consistency, not digested.
#include "harness.h"

static std::string properties() {
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    std::string values = std::string(p.name) + ", cc " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                         ", " + std::to_string(p.multiProcessorCount) + " SMs, " +
                         std::to_string(p.totalGlobalMem >> 20) + " MiB, warp " + std::to_string(p.warpSize) +
                         ", " + std::to_string(p.maxThreadsPerBlock) + " threads/block, " +
                         std::to_string(p.sharedMemPerBlockOptin) + " B shared opt-in";
    if (std::strlen(p.name) == 0) fail("empty name: " + values);
    if (p.major < 7) fail("compute capability below 7.0: " + values);
    if (p.warpSize != 32) fail("warpSize: " + values);
    if (p.maxThreadsPerBlock != 1024) fail("maxThreadsPerBlock: " + values);
    if (p.multiProcessorCount < 1 || p.totalGlobalMem == 0) fail(values);
    if (p.maxGridSize[0] != 0x7fffffff || p.maxGridSize[1] != 65535 || p.maxGridSize[2] != 65535)
        fail("maxGridSize: " + values);
    bool uuid_set = false;
    for (char c : p.uuid.bytes) uuid_set |= c != 0;
    if (!uuid_set) fail("all-zero uuid: " + values);
    return values;
}

static std::string attributes_agree() {
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    struct {
        cudaDeviceAttr attr;
        const char *name;
        int want;
    } checks[] = {
        {cudaDevAttrComputeCapabilityMajor, "ComputeCapabilityMajor", p.major},
        {cudaDevAttrComputeCapabilityMinor, "ComputeCapabilityMinor", p.minor},
        {cudaDevAttrMultiProcessorCount, "MultiProcessorCount", p.multiProcessorCount},
        {cudaDevAttrMaxThreadsPerBlock, "MaxThreadsPerBlock", p.maxThreadsPerBlock},
        {cudaDevAttrWarpSize, "WarpSize", p.warpSize},
        {cudaDevAttrMaxSharedMemoryPerBlockOptin, "MaxSharedMemoryPerBlockOptin", (int)p.sharedMemPerBlockOptin},
        {cudaDevAttrPciBusId, "PciBusId", p.pciBusID},
    };
    for (auto &c : checks) {
        int v = -1;
        CK(cudaDeviceGetAttribute(&v, c.attr, 0));
        if (v != c.want)
            fail(std::string("cudaDeviceGetAttribute(") + c.name + ") = " + std::to_string(v) +
                 ", cudaGetDeviceProperties says " + std::to_string(c.want));
    }
    char bus[32] = {0};
    CK(cudaDeviceGetPCIBusId(bus, sizeof(bus), 0));
    if (std::strlen(bus) < 7) fail(std::string("cudaDeviceGetPCIBusId: \"") + bus + "\"");
    int dev = -1;
    CK(cudaDeviceGetByPCIBusId(&dev, bus));
    expect_value("cudaDeviceGetByPCIBusId", dev, 0);
    return "7 attributes agree with the properties; bus id " + std::string(bus);
}

static std::string versions() {
    int driver = 0, runtime = 0;
    CK(cudaDriverGetVersion(&driver));
    CK(cudaRuntimeGetVersion(&runtime));
    if (runtime / 1000 != 13) fail("cudaRuntimeGetVersion: " + std::to_string(runtime));
    if (driver < runtime) fail("driver " + std::to_string(driver) + " older than runtime " + std::to_string(runtime));
    int current = -1;
    CK(cudaGetDevice(&current));
    expect_value("cudaGetDevice", current, 0);
    return "driver " + std::to_string(driver) + ", runtime " + std::to_string(runtime);
}

int main() {
    return run_program({
        {"properties", properties},
        {"attributes_agree", attributes_agree},
        {"versions", versions},
    });
}
