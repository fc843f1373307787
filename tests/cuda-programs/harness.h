// Shared by the cudart test programs (tests/cuda-programs/*.cu).
//
// Each program is a list of cases run in order after a `setup` case that
// brings cudart up on device 0. Output, as tests/src/bin/cuda-suite.rs:
//   CASE <name> PASS|FAIL <ms>ms <detail>
//   DIGEST <case> <hex>        FNV-1a 64 of the case's result buffers
//   <n> passed, <n> failed
// and the exit status is non-zero when any case failed. When setup fails,
// every other case is reported as FAIL (not run), so a broken runtime never
// looks like a short, passing program.
//
// A case returns its detail on success and throws `Fail` on failure; every
// check compares with an expectation computed on the CPU.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

struct Fail {
    std::string what;
};

[[noreturn]] inline void fail(const std::string &what) { throw Fail{what}; }

inline std::string err_name(cudaError_t e) { return cudaGetErrorName(e); }

// Throws with the call's text and the error's name unless it succeeded.
#define CK(call)                                                       \
    do {                                                               \
        cudaError_t ck_e_ = (call);                                    \
        if (ck_e_ != cudaSuccess) fail(std::string(#call) + ": " + err_name(ck_e_)); \
    } while (0)

// The last launch's error (cudaGetLastError), checked.
#define CK_LAUNCH() CK(cudaGetLastError())

inline void expect_error(const char *what, cudaError_t got, cudaError_t want) {
    if (got != want) fail(std::string(what) + ": got " + err_name(got) + ", expected " + err_name(want));
}

// First element where `got` and `want` differ, as a failure message.
template <typename T>
void expect_equal(const char *what, const std::vector<T> &got, const std::vector<T> &want) {
    if (got.size() != want.size()) fail(std::string(what) + ": size differs");
    for (size_t i = 0; i < got.size(); i++) {
        if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
            fail(std::string(what) + ": first difference at element " + std::to_string(i) + " (got " +
                 std::to_string(got[i]) + ", expected " + std::to_string(want[i]) + ")");
        }
    }
}

template <typename T>
void expect_value(const char *what, T got, T want) {
    if (got != want) fail(std::string(what) + ": got " + std::to_string(got) + ", expected " + std::to_string(want));
}

inline uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x00000100000001b3ull;
    }
    return h;
}

// Digests of the case that runs now, printed after its CASE line.
inline std::vector<std::pair<std::string, uint64_t>> &pending_digests() {
    static std::vector<std::pair<std::string, uint64_t>> d;
    return d;
}

// Records the digest of one or more result buffers under the case's name.
inline void digest(const char *case_name, std::initializer_list<std::pair<const void *, size_t>> parts) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (auto &p : parts) h = fnv1a(h, p.first, p.second);
    pending_digests().emplace_back(case_name, h);
}

template <typename T>
std::pair<const void *, size_t> bytes_of(const std::vector<T> &v) {
    return {v.data(), v.size() * sizeof(T)};
}

typedef std::string (*CaseFn)();

struct Case {
    const char *name;
    CaseFn run;
};

inline std::string setup_device() {
    int count = -1;
    CK(cudaGetDeviceCount(&count));
    if (count < 1) fail("cudaGetDeviceCount: " + std::to_string(count) + " devices");
    CK(cudaSetDevice(0));
    // Creates the primary context now, so later cases time their own work.
    CK(cudaFree(nullptr));
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    return std::to_string(count) + " device(s); device 0 " + p.name + ", cc " + std::to_string(p.major) + "." +
           std::to_string(p.minor);
}

// Runs `setup` and then `cases`; prints the result lines; the exit status.
inline int run_program(std::initializer_list<Case> cases) {
    int passed = 0, failed = 0;
    auto run_one = [&](const char *name, CaseFn fn) {
        auto t0 = std::chrono::steady_clock::now();
        bool ok = true;
        std::string detail;
        try {
            detail = fn();
        } catch (const Fail &f) {
            ok = false;
            detail = f.what;
        }
        long ms = (long)std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count();
        std::printf("CASE %s %s %ldms %s\n", name, ok ? "PASS" : "FAIL", ms, detail.c_str());
        for (auto &d : pending_digests()) std::printf("DIGEST %s %016llx\n", d.first.c_str(), (unsigned long long)d.second);
        pending_digests().clear();
        std::fflush(stdout);
        if (ok) {
            passed++;
        } else {
            failed++;
            // A failed case may leave a launch error or work behind.
            cudaDeviceSynchronize();
            cudaGetLastError();
        }
        return ok;
    };
    if (!run_one("setup", setup_device)) {
        for (auto &c : cases) {
            std::printf("CASE %s FAIL 0ms not run: setup failed\n", c.name);
            failed++;
        }
    } else {
        for (auto &c : cases) run_one(c.name, c.run);
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
