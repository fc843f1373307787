// Kernel launches through cudart: 1-D, 2-D and 3-D grids and blocks, a
// grid that does not divide the data, and parameters of every size.
#include "harness.h"

__global__ void fill_1d(int *out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = i * 3 + 1;
}

__global__ void fill_2d(int *out, int width, int height) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < width && y < height) out[y * width + x] = x * 1000 + y;
}

// Every thread records where it ran: block and thread index in all three dimensions.
__global__ void fill_3d(unsigned *out) {
    unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    unsigned thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    out[block * threads + thread] = (blockIdx.x << 24) | (blockIdx.y << 20) | (blockIdx.z << 16) | (threadIdx.x << 8) |
                                    (threadIdx.y << 4) | threadIdx.z;
}

struct Mixed {
    int a;
    double b;
    char c;
};

__global__ void many_params(long long *out, char c, short s, int i, long long l, float f, double d, Mixed m,
                            unsigned char tail) {
    out[0] = c;
    out[1] = s;
    out[2] = i;
    out[3] = l;
    out[4] = (long long)(f * 4.0f);
    out[5] = (long long)(d * 8.0);
    out[6] = m.a;
    out[7] = (long long)(m.b * 2.0);
    out[8] = m.c;
    out[9] = tail;
}

static std::string grid_1d() {
    const int n = 10000;  // not a multiple of the block size
    int *d;
    CK(cudaMalloc(&d, n * sizeof(int)));
    CK(cudaMemset(d, 0xff, n * sizeof(int)));
    fill_1d<<<(n + 255) / 256, 256>>>(d, n);
    CK_LAUNCH();
    std::vector<int> got(n), want(n);
    CK(cudaMemcpy(got.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int i = 0; i < n; i++) want[i] = i * 3 + 1;
    digest("grid_1d", {bytes_of(got)});
    expect_equal("out", got, want);
    return "40 blocks x 256 threads over 10000 elements";
}

static std::string grid_2d() {
    const int w = 100, h = 37;
    int *d;
    CK(cudaMalloc(&d, w * h * sizeof(int)));
    dim3 block(16, 8);
    dim3 grid((w + block.x - 1) / block.x, (h + block.y - 1) / block.y);
    fill_2d<<<grid, block>>>(d, w, h);
    CK_LAUNCH();
    std::vector<int> got(w * h), want(w * h);
    CK(cudaMemcpy(got.data(), d, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) want[y * w + x] = x * 1000 + y;
    digest("grid_2d", {bytes_of(got)});
    expect_equal("out", got, want);
    return "grid 7x5, block 16x8 over 100x37";
}

static std::string grid_3d() {
    dim3 grid(3, 4, 5), block(4, 4, 4);
    const int n = 3 * 4 * 5 * 64;
    unsigned *d;
    CK(cudaMalloc(&d, n * sizeof(unsigned)));
    fill_3d<<<grid, block>>>(d);
    CK_LAUNCH();
    std::vector<unsigned> got(n), want(n);
    CK(cudaMemcpy(got.data(), d, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (unsigned bz = 0; bz < 5; bz++)
        for (unsigned by = 0; by < 4; by++)
            for (unsigned bx = 0; bx < 3; bx++)
                for (unsigned tz = 0; tz < 4; tz++)
                    for (unsigned ty = 0; ty < 4; ty++)
                        for (unsigned tx = 0; tx < 4; tx++) {
                            unsigned b = (bz * 4 + by) * 3 + bx, t = (tz * 4 + ty) * 4 + tx;
                            want[b * 64 + t] = (bx << 24) | (by << 20) | (bz << 16) | (tx << 8) | (ty << 4) | tz;
                        }
    digest("grid_3d", {bytes_of(got)});
    expect_equal("out", got, want);
    return "grid 3x4x5, block 4x4x4";
}

static std::string params() {
    long long *d;
    CK(cudaMalloc(&d, 10 * sizeof(long long)));
    Mixed m = {-123456, 10.25, 'z'};
    many_params<<<1, 1>>>(d, 'A', (short)-3000, 70000, -5000000000ll, 2.5f, 0.125, m, 200);
    CK_LAUNCH();
    std::vector<long long> got(10);
    CK(cudaMemcpy(got.data(), d, got.size() * sizeof(long long), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    std::vector<long long> want = {'A', -3000, 70000, -5000000000ll, 10, 1, -123456, 20, 'z', 200};
    digest("params", {bytes_of(got)});
    expect_equal("out", got, want);
    return "char, short, int, long long, float, double, a struct by value, uchar";
}

int main() {
    return run_program({
        {"grid_1d", grid_1d},
        {"grid_2d", grid_2d},
        {"grid_3d", grid_3d},
        {"params", params},
    });
}
