// Streams and events through cudart: work on two streams, a cross-stream
// dependency through an event, elapsed time, queries after completion.
#include "harness.h"

__global__ void affine(int *out, const int *in, int n, int mul, int add) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (in ? in[i] : i) * mul + add;
}

static const int N = 4096;

static std::string two_streams() {
    cudaStream_t s[2];
    int *d[2];
    for (int k = 0; k < 2; k++) {
        CK(cudaStreamCreateWithFlags(&s[k], cudaStreamNonBlocking));
        CK(cudaMalloc(&d[k], N * sizeof(int)));
        affine<<<N / 256, 256, 0, s[k]>>>(d[k], nullptr, N, k + 2, k);
        CK_LAUNCH();
    }
    std::vector<int> got0(N), got1(N), want0(N), want1(N);
    CK(cudaMemcpyAsync(got0.data(), d[0], N * sizeof(int), cudaMemcpyDeviceToHost, s[0]));
    CK(cudaMemcpyAsync(got1.data(), d[1], N * sizeof(int), cudaMemcpyDeviceToHost, s[1]));
    for (int k = 0; k < 2; k++) {
        CK(cudaStreamSynchronize(s[k]));
        CK(cudaFree(d[k]));
        CK(cudaStreamDestroy(s[k]));
    }
    for (int i = 0; i < N; i++) {
        want0[i] = i * 2;
        want1[i] = i * 3 + 1;
    }
    digest("two_streams", {bytes_of(got0), bytes_of(got1)});
    expect_equal("stream 0", got0, want0);
    expect_equal("stream 1", got1, want1);
    return "two non-blocking streams, a kernel and a copy each";
}

static std::string wait_event() {
    cudaStream_t producer, consumer;
    cudaEvent_t ready;
    CK(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&consumer, cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    int *a, *b;
    CK(cudaMalloc(&a, N * sizeof(int)));
    CK(cudaMalloc(&b, N * sizeof(int)));
    affine<<<N / 256, 256, 0, producer>>>(a, nullptr, N, 5, 7);
    CK_LAUNCH();
    CK(cudaEventRecord(ready, producer));
    CK(cudaStreamWaitEvent(consumer, ready, 0));
    affine<<<N / 256, 256, 0, consumer>>>(b, a, N, 2, -1);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpyAsync(got.data(), b, N * sizeof(int), cudaMemcpyDeviceToHost, consumer));
    CK(cudaStreamSynchronize(consumer));
    CK(cudaEventSynchronize(ready));
    CK(cudaFree(a));
    CK(cudaFree(b));
    CK(cudaEventDestroy(ready));
    CK(cudaStreamDestroy(producer));
    CK(cudaStreamDestroy(consumer));
    for (int i = 0; i < N; i++) want[i] = (i * 5 + 7) * 2 - 1;
    digest("wait_event", {bytes_of(got)});
    expect_equal("consumer output", got, want);
    return "consumer stream waited on the producer's event";
}

static std::string elapsed_time() {
    cudaStream_t s;
    cudaEvent_t start, stop;
    CK(cudaStreamCreate(&s));
    CK(cudaEventCreate(&start));
    CK(cudaEventCreate(&stop));
    int *d;
    CK(cudaMalloc(&d, N * sizeof(int)));
    CK(cudaEventRecord(start, s));
    for (int k = 0; k < 4; k++) affine<<<N / 256, 256, 0, s>>>(d, nullptr, N, k, k);
    CK_LAUNCH();
    CK(cudaEventRecord(stop, s));
    CK(cudaEventSynchronize(stop));
    expect_error("cudaEventQuery(stop) after synchronize", cudaEventQuery(stop), cudaSuccess);
    float ms = -1.0f;
    CK(cudaEventElapsedTime(&ms, start, stop));
    CK(cudaFree(d));
    CK(cudaEventDestroy(start));
    CK(cudaEventDestroy(stop));
    CK(cudaStreamDestroy(s));
    // Only the sign is checked: times differ between a GPU and the simulator.
    if (!(ms >= 0.0f)) fail("cudaEventElapsedTime: " + std::to_string(ms) + " ms");
    return "4 kernels between two events: " + std::to_string(ms) + " ms";
}

static std::string queries() {
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    int *d;
    CK(cudaMalloc(&d, N * sizeof(int)));
    affine<<<N / 256, 256, 0, s>>>(d, nullptr, N, 1, 0);
    CK_LAUNCH();
    CK(cudaStreamSynchronize(s));
    expect_error("cudaStreamQuery after synchronize", cudaStreamQuery(s), cudaSuccess);
    // The legacy default stream orders after work on a blocking stream.
    affine<<<N / 256, 256, 0, s>>>(d, d, N, 3, 1);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpy(got.data(), d, N * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaDeviceSynchronize());
    expect_error("cudaStreamQuery after cudaDeviceSynchronize", cudaStreamQuery(s), cudaSuccess);
    CK(cudaFree(d));
    CK(cudaStreamDestroy(s));
    for (int i = 0; i < N; i++) want[i] = i * 3 + 1;
    digest("queries", {bytes_of(got)});
    expect_equal("out", got, want);
    return "cudaStreamQuery cudaSuccess after synchronize; default-stream copy ordered after the stream";
}

// What the host function and the stream callback saw.
static int host_fn_saw = -1;
static int callback_status = -1;
static int *callback_buf = nullptr;

static void CUDART_CB read_back(void *) { host_fn_saw = callback_buf[N - 1]; }
static void CUDART_CB note_status(cudaStream_t, cudaError_t status, void *) {
    callback_status = static_cast<int>(status);
}

static std::string host_callbacks() {
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    int *d;
    CK(cudaMalloc(&d, N * sizeof(int)));
    CK(cudaMallocHost(&callback_buf, N * sizeof(int)));
    std::memset(callback_buf, 0, N * sizeof(int));
    affine<<<N / 256, 256, 0, s>>>(d, nullptr, N, 5, 2);
    CK_LAUNCH();
    CK(cudaMemcpyAsync(callback_buf, d, N * sizeof(int), cudaMemcpyDeviceToHost, s));
    // Runs after the copy, in stream order.
    CK(cudaLaunchHostFunc(s, read_back, nullptr));
    CK(cudaStreamAddCallback(s, note_status, nullptr, 0));
    CK(cudaStreamSynchronize(s));
    std::vector<int> seen = {host_fn_saw, callback_status};
    CK(cudaFreeHost(callback_buf));
    CK(cudaFree(d));
    CK(cudaStreamDestroy(s));
    digest("host_callbacks", {bytes_of(seen)});
    expect_equal("host function and callback", seen, std::vector<int>{(N - 1) * 5 + 2, 0});
    return "cudaLaunchHostFunc saw the copied result; cudaStreamAddCallback status cudaSuccess";
}

int main() {
    return run_program({
        {"two_streams", two_streams},
        {"wait_event", wait_event},
        {"elapsed_time", elapsed_time},
        {"queries", queries},
        {"host_callbacks", host_callbacks},
    });
}
