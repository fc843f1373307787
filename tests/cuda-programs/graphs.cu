// CUDA graphs through cudart, as PyTorch's torch.cuda.graphs and
// ggml-cuda use them: stream capture (global and thread-local modes) of
// kernels, memsets, device-to-device copies and a fork/join across two
// streams by events; instantiate, launch several times on new inputs;
// cudaGraphExecUpdate from a second capture of the same shape (ggml does it
// on every evaluation) and from one of another shape (refused); the
// explicit API (kernel and memset nodes with dependencies); kernel-node
// parameters changed on the executable graph; host functions captured
// with cudaLaunchHostFunc and replayed.
#include "harness.h"

__global__ void axpb(float *y, const float *x, float a, float b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + b;
}

__global__ void add_into(float *y, const float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

static const int N = 4096;

static std::vector<float> ramp(float k) {
    std::vector<float> v(N);
    for (int i = 0; i < N; i++) v[i] = k * (float)(i % 97) - 3.0f;
    return v;
}

// y = 2x + 1 on s, z = 3x - 2 on a forked stream, y += z, joined back.
static void record(cudaStream_t s, cudaStream_t side, cudaEvent_t fork, cudaEvent_t join, float *x, float *y,
                   float *z, float b) {
    CK(cudaMemsetAsync(y, 0, N * sizeof(float), s));
    axpb<<<N / 256, 256, 0, s>>>(y, x, 2.0f, b, N);
    CK(cudaEventRecord(fork, s));
    CK(cudaStreamWaitEvent(side, fork, 0));
    axpb<<<N / 256, 256, 0, side>>>(z, x, 3.0f, -2.0f, N);
    CK(cudaEventRecord(join, side));
    CK(cudaStreamWaitEvent(s, join, 0));
    add_into<<<N / 256, 256, 0, s>>>(y, z, N);
}

static std::vector<float> want_of(const std::vector<float> &x, float b) {
    std::vector<float> w(N);
    for (int i = 0; i < N; i++) w[i] = (2.0f * x[i] + b) + (3.0f * x[i] - 2.0f);
    return w;
}

static std::string capture_and_update() {
    cudaStream_t s, side;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
    cudaEvent_t fork, join;
    CK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
    CK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
    float *x, *y, *z;
    CK(cudaMalloc(&x, N * sizeof(float)));
    CK(cudaMalloc(&y, N * sizeof(float)));
    CK(cudaMalloc(&z, N * sizeof(float)));

    cudaGraph_t g;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    cudaStreamCaptureStatus status;
    CK(cudaStreamIsCapturing(s, &status));
    expect_value("capturing", (int)status, (int)cudaStreamCaptureStatusActive);
    record(s, side, fork, join, x, y, z, 1.0f);
    CK(cudaStreamEndCapture(s, &g));
    size_t nodes = 0;
    CK(cudaGraphGetNodes(g, nullptr, &nodes));
    cudaGraphExec_t exec;
    CK(cudaGraphInstantiate(&exec, g, 0));

    std::vector<float> got(N), all;
    for (int round = 0; round < 3; round++) {
        auto in = ramp(0.25f + (float)round);
        CK(cudaMemcpy(x, in.data(), N * sizeof(float), cudaMemcpyHostToDevice));
        CK(cudaGraphLaunch(exec, s));
        CK(cudaStreamSynchronize(s));
        CK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
        expect_equal("replay", got, want_of(in, 1.0f));
        all.insert(all.end(), got.begin(), got.end());
    }

    // The same shape with another constant: the executable graph takes it.
    cudaGraph_t g2;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    record(s, side, fork, join, x, y, z, 5.0f);
    CK(cudaStreamEndCapture(s, &g2));
    cudaGraphExecUpdateResultInfo info;
    CK(cudaGraphExecUpdate(exec, g2, &info));
    expect_value("update result", (int)info.result, (int)cudaGraphExecUpdateSuccess);
    CK(cudaGraphLaunch(exec, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
    expect_equal("after update", got, want_of(ramp(2.25f), 5.0f));
    all.insert(all.end(), got.begin(), got.end());

    // Another shape (one kernel fewer): refused, the old graph still runs.
    cudaGraph_t g3;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    axpb<<<N / 256, 256, 0, s>>>(y, x, 1.0f, 0.0f, N);
    CK(cudaStreamEndCapture(s, &g3));
    expect_error("update to another topology", cudaGraphExecUpdate(exec, g3, &info),
                 cudaErrorGraphExecUpdateFailure);
    cudaGetLastError();
    CK(cudaGraphLaunch(exec, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
    expect_equal("after a refused update", got, want_of(ramp(2.25f), 5.0f));

    digest("capture_and_update", {bytes_of(all)});
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(g));
    CK(cudaGraphDestroy(g2));
    CK(cudaGraphDestroy(g3));
    CK(cudaFree(x));
    CK(cudaFree(y));
    CK(cudaFree(z));
    CK(cudaEventDestroy(fork));
    CK(cudaEventDestroy(join));
    CK(cudaStreamDestroy(s));
    CK(cudaStreamDestroy(side));
    return std::to_string(nodes) + " nodes captured over two streams, 4 launches, exec update taken and refused";
}

static std::string explicit_graph() {
    float *x, *y;
    CK(cudaMalloc(&x, N * sizeof(float)));
    CK(cudaMalloc(&y, N * sizeof(float)));
    auto in = ramp(0.5f);
    CK(cudaMemcpy(x, in.data(), N * sizeof(float), cudaMemcpyHostToDevice));

    cudaGraph_t g;
    CK(cudaGraphCreate(&g, 0));
    cudaMemsetParams ms = {};
    ms.dst = y;
    ms.value = 0;
    ms.elementSize = 4;
    ms.width = N;
    ms.height = 1;
    cudaGraphNode_t clear, kernel;
    CK(cudaGraphAddMemsetNode(&clear, g, nullptr, 0, &ms));
    float a = 4.0f, b = -1.0f;
    int n = N;
    void *args[] = {&y, &x, &a, &b, &n};
    cudaKernelNodeParams kp = {};
    kp.func = (void *)axpb;
    kp.gridDim = dim3(N / 256);
    kp.blockDim = dim3(256);
    kp.kernelParams = args;
    CK(cudaGraphAddKernelNode(&kernel, g, &clear, 1, &kp));
    cudaGraphExec_t exec;
    CK(cudaGraphInstantiate(&exec, g, 0));
    CK(cudaGraphLaunch(exec, 0));
    CK(cudaDeviceSynchronize());
    std::vector<float> got(N), want(N);
    CK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++) want[i] = 4.0f * in[i] - 1.0f;
    expect_equal("explicit", got, want);

    // New kernel arguments on the executable graph only.
    float a2 = -0.5f;
    void *args2[] = {&y, &x, &a2, &b, &n};
    kp.kernelParams = args2;
    CK(cudaGraphExecKernelNodeSetParams(exec, kernel, &kp));
    CK(cudaGraphLaunch(exec, 0));
    CK(cudaDeviceSynchronize());
    std::vector<float> got2(N);
    CK(cudaMemcpy(got2.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++) want[i] = -0.5f * in[i] - 1.0f;
    expect_equal("after set params", got2, want);

    digest("explicit_graph", {bytes_of(got), bytes_of(got2)});
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(g));
    CK(cudaFree(x));
    CK(cudaFree(y));
    return "memset and kernel nodes, one dependency; kernel parameters set on the executable graph";
}

// A host function's user data: a tag appended to a log (host functions
// may not call CUDA; what they see of the stream is its order).
struct Tag {
    std::vector<char> *log;
    char tag;
};

static void CUDART_CB log_tag(void *data) {
    Tag *t = static_cast<Tag *>(data);
    t->log->push_back(t->tag);
}

// cudaLaunchHostFunc captured between kernels: y = 2x + 1; A; y += x; B;
// replayed 3 times, each replay's host functions in stream order.
static std::string host_func_graph() {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float *x, *y;
    CK(cudaMalloc(&x, N * sizeof(float)));
    CK(cudaMalloc(&y, N * sizeof(float)));
    std::vector<float> in = ramp(0.5f);
    CK(cudaMemcpy(x, in.data(), N * sizeof(float), cudaMemcpyHostToDevice));
    std::vector<char> log;
    Tag a{&log, 'A'}, b{&log, 'B'};

    cudaGraph_t g;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    axpb<<<N / 256, 256, 0, s>>>(y, x, 2.0f, 1.0f, N);
    CK(cudaLaunchHostFunc(s, log_tag, &a));
    add_into<<<N / 256, 256, 0, s>>>(y, x, N);
    CK(cudaLaunchHostFunc(s, log_tag, &b));
    CK(cudaStreamEndCapture(s, &g));
    if (!log.empty()) fail("host functions ran during capture");
    size_t count = 0;
    CK(cudaGraphGetNodes(g, nullptr, &count));
    expect_value("captured nodes", count, (size_t)4);
    cudaGraphExec_t exec;
    CK(cudaGraphInstantiate(&exec, g, 0));
    for (int i = 0; i < 3; i++) CK(cudaGraphLaunch(exec, s));
    CK(cudaStreamSynchronize(s));
    std::string seen(log.begin(), log.end());
    if (seen != "ABABAB") fail("host functions ran as " + seen + ", expected ABABAB");
    std::vector<float> got(N), want(N);
    CK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++) want[i] = (2.0f * in[i] + 1.0f) + in[i];
    expect_equal("after replays", got, want);

    digest("host_func_graph", {bytes_of(got), bytes_of(log)});
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(g));
    CK(cudaStreamDestroy(s));
    CK(cudaFree(x));
    CK(cudaFree(y));
    return "2 host functions captured between kernels, 3 replays, in stream order";
}

int main() {
    return run_program({
        {"capture_and_update", capture_and_update},
        {"explicit_graph", explicit_graph},
        {"host_func_graph", host_func_graph},
    });
}
