// Greedy decoding with llama.cpp, printing what it computed so that two runs
// (NVIDIA's driver, ours) can be compared bit for bit.
//
//   logits-dump MODEL N_TOKENS PROMPT
//
// Loads MODEL with every layer on the GPU, evaluates PROMPT in one batch,
// then picks the most likely token (temperature 0; the lowest id on a tie)
// and evaluates it, N_TOKENS times. Prints
//   PROMPT <n> <token ids…>
//   STEP <i> TOKEN <id> LOGITS <SHA-256 of the step's n_vocab raw floats>
//   TEXT <the generated tokens' text, non-printing bytes as \xNN>
// and exits non-zero on any failure.
#include "llama.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// SHA-256 (FIPS 180-4), for the logits digests.
class Sha256 {
  public:
    void update(const void *data, size_t n) {
        const auto *p = static_cast<const uint8_t *>(data);
        for (size_t i = 0; i < n; i++) {
            block_[fill_++] = p[i];
            if (fill_ == 64) {
                compress();
                fill_ = 0;
            }
        }
        bits_ += uint64_t(n) * 8;
    }
    std::string hex() {
        uint64_t bits = bits_;
        uint8_t pad = 0x80;
        update(&pad, 1);
        uint8_t zero = 0;
        while (fill_ != 56) update(&zero, 1);
        for (int i = 7; i >= 0; i--) {
            uint8_t b = uint8_t(bits >> (8 * i));
            update(&b, 1);
        }
        char out[65];
        for (int i = 0; i < 8; i++) std::snprintf(out + 8 * i, 9, "%08x", h_[i]);
        return std::string(out, 64);
    }

  private:
    static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
    void compress() {
        static const uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = uint32_t(block_[4 * i]) << 24 | uint32_t(block_[4 * i + 1]) << 16 |
                   uint32_t(block_[4 * i + 2]) << 8 | block_[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        uint32_t add[8] = {a, b, c, d, e, f, g, h};
        for (int i = 0; i < 8; i++) h_[i] += add[i];
    }
    uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t block_[64] = {};
    size_t fill_ = 0;
    uint64_t bits_ = 0;
};

[[noreturn]] void die(const std::string &what) {
    std::fprintf(stderr, "logits-dump: %s\n", what.c_str());
    std::exit(1);
}

// The token's text, printable ASCII as is, everything else as \xNN.
std::string escaped_piece(const llama_vocab *vocab, llama_token t) {
    char buf[256];
    int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, true);
    if (n < 0) die("llama_token_to_piece failed for token " + std::to_string(t));
    std::string out;
    for (int i = 0; i < n; i++) {
        unsigned char c = static_cast<unsigned char>(buf[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += char(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

void quiet_log(enum ggml_log_level level, const char *text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) die("usage: logits-dump MODEL N_TOKENS PROMPT");
    const char *path = argv[1];
    const int steps = std::atoi(argv[2]);
    const std::string prompt = argv[3];
    if (steps < 1 || steps > 4096) die("N_TOKENS must be 1..4096");

    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = -1;  // every layer on the GPU
    mp.progress_callback = [](float, void *) { return true; };  // no progress dots
    llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) die(std::string("cannot load ") + path);
    const llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    std::vector<llama_token> tokens(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.c_str(), int(prompt.size()), tokens.data(), int(tokens.size()), true, false);
    if (n <= 0) die("the prompt did not tokenize");
    tokens.resize(n);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = uint32_t(n + steps + 16);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx;
    cp.no_perf = true;
    llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create a context");

    std::printf("PROMPT %d", n);
    for (llama_token t : tokens) std::printf(" %d", t);
    std::printf("\n");

    std::string text;
    std::vector<llama_token> next = tokens;
    for (int step = 0; step < steps; step++) {
        if (llama_decode(ctx, llama_batch_get_one(next.data(), int(next.size()))) != 0)
            die("llama_decode failed at step " + std::to_string(step));
        const float *logits = llama_get_logits_ith(ctx, -1);
        if (!logits) die("no logits at step " + std::to_string(step));
        Sha256 sha;
        sha.update(logits, sizeof(float) * size_t(n_vocab));
        llama_token best = 0;
        for (llama_token t = 1; t < n_vocab; t++)
            if (logits[t] > logits[best]) best = t;
        std::printf("STEP %d TOKEN %d LOGITS %s\n", step, best, sha.hex().c_str());
        text += escaped_piece(vocab, best);
        next.assign(1, best);
    }
    std::printf("TEXT %s\n", text.c_str());
    std::fflush(stdout);

    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
