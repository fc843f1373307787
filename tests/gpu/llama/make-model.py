#!/usr/bin/env python3
"""A small llama-architecture GGUF with fixed pseudo-random weights.

Usage: make-model.py LLAMA_CPP_TREE OUT.gguf

The tokenizer is the tree's models/ggml-vocab-llama-spm.gguf (LLaMA's
SentencePiece vocabulary, 32000 tokens), written with the tree's own gguf-py,
so llama.cpp loads the result as any llama model. 4 layers, 256 wide, 4
attention heads over 2 key/value heads (grouped-query attention), F16
matrices and F32 norms. The weights come from a counter-based integer hash
(splitmix64) rather than numpy's random generators, whose streams may change
between numpy versions: the file is the same byte for byte wherever it is
made (tests/gpu/llama/model.sha256 records it).
"""

import sys
from math import prod, sqrt
from pathlib import Path

import numpy as np

N_EMBD = 256
N_LAYER = 4
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 768
N_CTX = 2048
HEAD_DIM = N_EMBD // N_HEAD

M64 = (1 << 64) - 1


def uniform(seed: int, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Values in [-scale, scale): splitmix64 of (seed, index), top 24 bits."""
    n = prod(shape)
    with np.errstate(over="ignore"):
        x = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x += np.uint64((seed * 0xD1B54A32D192ED03) & M64)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    unit = (x >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    return ((unit * 2.0 - 1.0) * scale).astype(np.float32).reshape(shape)


def matrix(seed: int, rows: int, cols: int) -> np.ndarray:
    """An F16 weight of `rows` outputs over `cols` inputs (variance 1/cols)."""
    return uniform(seed, (rows, cols), sqrt(3.0 / cols)).astype(np.float16)


def norm(seed: int) -> np.ndarray:
    """An F32 RMS-norm weight near 1."""
    return 1.0 + uniform(seed, (N_EMBD,), 0.1)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    tree, out = Path(sys.argv[1]), Path(sys.argv[2])
    sys.path.insert(0, str(tree / "gguf-py"))
    import gguf  # the tree's own, so the format is what its llama.cpp reads

    vocab = gguf.GGUFReader(tree / "models" / "ggml-vocab-llama-spm.gguf")
    n_vocab = len(vocab.fields["tokenizer.ggml.tokens"].data)

    w = gguf.GGUFWriter(out, "llama")
    w.add_name("vgpu-test-llama")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for name, field in vocab.fields.items():
        if not name.startswith("tokenizer."):
            continue
        kind = gguf.GGUFValueType(field.types[0])
        if kind == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, field.contents(), kind, gguf.GGUFValueType(field.types[-1]))
        else:
            w.add_key_value(name, field.contents(), kind)

    seed = iter(range(1, 1 << 20))
    w.add_tensor("token_embd.weight", uniform(next(seed), (n_vocab, N_EMBD), 1.0).astype(np.float16))
    kv = N_HEAD_KV * HEAD_DIM
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", norm(next(seed)))
        w.add_tensor(f"blk.{i}.attn_q.weight", matrix(next(seed), N_EMBD, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_k.weight", matrix(next(seed), kv, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_v.weight", matrix(next(seed), kv, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_output.weight", matrix(next(seed), N_EMBD, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", norm(next(seed)))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(next(seed), N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_up.weight", matrix(next(seed), N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_down.weight", matrix(next(seed), N_EMBD, N_FF))
    w.add_tensor("output_norm.weight", norm(next(seed)))
    w.add_tensor("output.weight", matrix(next(seed), n_vocab, N_EMBD))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{out}: {out.stat().st_size} bytes, {n_vocab} tokens, {N_LAYER} layers of {N_EMBD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
