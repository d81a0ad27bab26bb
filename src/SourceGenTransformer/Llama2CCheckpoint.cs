using System;
using System.Collections.Generic;
using System.IO;

namespace SourceGenTransformer;

/// <summary>
/// A llama2.c checkpoint (<c>model.bin</c> from llama2.c's export.py), exposed under Hugging Face
/// <c>LlamaForCausalLM</c> tensor names so that a Llama-family declaration loads it.
/// </summary>
/// <remarks>
/// Two layouts: the legacy version 0 (a header of 7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
/// vocab_size, seq_len, with a negative vocab_size meaning a separate classifier; then the embedding, per-kind
/// stacked weights, the final norm, two RoPE tables to skip, and the classifier if separate) and version 1 (a
/// 256-byte header: magic "ak42", version 1, the same 7 int32, a shared-classifier byte; then the norms, the
/// embedding, the matrices and the classifier if separate). All float32.
/// llama2.c rotates interleaved pairs (2j, 2j+1) of each head; the engine rotates halves (j, j + head/2), as
/// Hugging Face does. The query and key rows are permuted at load, exactly as the conversion between the two
/// layouts does, so the logits are the same. A shared classifier is returned for <c>lm_head.weight</c> too, so
/// an untied declaration loads it.
/// </remarks>
public sealed unsafe class Llama2CCheckpoint : ITensorSource
{
    internal const uint Magic = 0x616b3432; // "ak42", little-endian uint32 at the start of a version-1 file

    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly Dictionary<string, (long Offset, long[] Shape, int PermuteHeads)> _tensors = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>The checkpoint's configuration, from its header.</summary>
    public readonly record struct Config(int Version, int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen, bool SharedClassifier);

    private Llama2CCheckpoint(string path, MappedFile file, Config config)
    {
        FilePath = path;
        _file = file;
        _base = file.Pointer;
        Header = config;
        Layout();
    }

    /// <inheritdoc/>
    public string FilePath { get; }

    /// <summary>The header's configuration.</summary>
    public Config Header { get; }

    /// <summary>Opens and validates a llama2.c checkpoint.</summary>
    public static Llama2CCheckpoint Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"Weight file not found: {path}", path);
        long length = info.Length;
        if (length < 28) throw new ModelLoadException(path, null, $"the file is {length} bytes, too short for a llama2.c header (28 bytes).");

        MappedFile file = MappedFile.Open(path, length);
        try
        {
            return new Llama2CCheckpoint(path, file, ReadHeader(path, file.Pointer, length));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static Config ReadHeader(string path, byte* p, long length)
    {
        ReadOnlySpan<int> ints = new(p, 7 + 2);
        Config config;
        if (*(uint*)p == Magic)
        {
            if (length < 256) throw new ModelLoadException(path, null, $"the file is {length} bytes, too short for a llama2.c version-1 header (256 bytes).");
            if (ints[1] != 1) throw new ModelLoadException(path, null, $"llama2.c checkpoint version {ints[1]} is not supported; versions 0 (legacy) and 1 (float32) are.");
            config = new Config(1, ints[2], ints[3], ints[4], ints[5], ints[6], ints[7], ints[8], p[36] != 0);
        }
        else
        {
            config = new Config(0, ints[0], ints[1], ints[2], ints[3], ints[4], Math.Abs(ints[5]), ints[6], ints[5] > 0);
        }
        if (config.Dim <= 0 || config.HiddenDim <= 0 || config.Layers <= 0 || config.Heads <= 0 || config.KvHeads <= 0
            || config.VocabSize <= 0 || config.SeqLen <= 0 || config.Dim % config.Heads != 0 || config.Heads % config.KvHeads != 0
            || config.Dim > 1 << 16 || config.HiddenDim > 1 << 18 || config.Layers > 1 << 10 || config.VocabSize > 1 << 22 || config.SeqLen > 1 << 20)
            throw new ModelLoadException(path, null, $"the header does not describe a llama2.c model ({config}).");
        long expected = ExpectedLength(config);
        if (expected != length)
            throw new ModelLoadException(path, null,
                $"a llama2.c version-{config.Version} checkpoint with this header ({config}) is {expected} bytes, but the file is {length}; it is truncated or not a llama2.c file.");
        return config;
    }

    private static long ExpectedLength(Config c)
    {
        long dim = c.Dim, hidden = c.HiddenDim, layers = c.Layers, headSize = c.Dim / c.Heads, kv = c.KvHeads * headSize;
        long floats = c.VocabSize * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kv + 3 * dim * hidden) + dim;
        if (c.Version == 0) floats += c.SeqLen * headSize; // the two RoPE tables, seq_len x head_size / 2 each
        if (!c.SharedClassifier) floats += c.VocabSize * dim;
        return (c.Version == 1 ? 256 : 28) + 4 * floats;
    }

    private void Layout()
    {
        Config c = Header;
        int headSize = c.Dim / c.Heads, kv = c.KvHeads * headSize;
        long offset = c.Version == 1 ? 256 : 28;
        void Stack(string name, long[] shape, int permuteHeads = 0)
        {
            long size = 1;
            foreach (long d in shape) size *= d;
            for (int l = 0; l < c.Layers; l++)
            {
                _tensors[$"model.layers.{l}.{name}"] = (offset, shape, permuteHeads);
                offset += 4 * size;
            }
        }
        void Single(string name, long[] shape)
        {
            _tensors[name] = (offset, shape, 0);
            long size = 1;
            foreach (long d in shape) size *= d;
            offset += 4 * size;
        }

        if (c.Version == 1)
        {
            Stack("input_layernorm.weight", [c.Dim]);
            Stack("post_attention_layernorm.weight", [c.Dim]);
            Single("model.norm.weight", [c.Dim]);
            Single("model.embed_tokens.weight", [c.VocabSize, c.Dim]);
        }
        else
        {
            Single("model.embed_tokens.weight", [c.VocabSize, c.Dim]);
            Stack("input_layernorm.weight", [c.Dim]);
        }
        Stack("self_attn.q_proj.weight", [c.Dim, c.Dim], c.Heads);
        Stack("self_attn.k_proj.weight", [kv, c.Dim], c.KvHeads);
        Stack("self_attn.v_proj.weight", [kv, c.Dim]);
        Stack("self_attn.o_proj.weight", [c.Dim, c.Dim]);
        if (c.Version == 0) Stack("post_attention_layernorm.weight", [c.Dim]);
        Stack("mlp.gate_proj.weight", [c.HiddenDim, c.Dim]);
        Stack("mlp.down_proj.weight", [c.Dim, c.HiddenDim]);
        Stack("mlp.up_proj.weight", [c.HiddenDim, c.Dim]);
        if (c.Version == 0)
        {
            Single("model.norm.weight", [c.Dim]);
            offset += 4L * c.SeqLen * headSize; // freq_cis_real and freq_cis_imag: the engine computes its own
        }
        if (c.SharedClassifier) _tensors["lm_head.weight"] = _tensors["model.embed_tokens.weight"];
        else Single("lm_head.weight", [c.VocabSize, c.Dim]);
    }

    /// <inheritdoc/>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc/>
    public void ReadInto(string name, ReadOnlySpan<long> expectedShape, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_tensors.TryGetValue(name, out var t))
            throw new ModelLoadException(FilePath, name, $"a llama2.c checkpoint has no such tensor; it holds Llama weights only (header {Header}).");
        if (!expectedShape.SequenceEqual(t.Shape))
            throw new ModelLoadException(FilePath, name,
                $"expected shape {TensorInfo.FormatShape(expectedShape)} from the declaration, found {TensorInfo.FormatShape(t.Shape)} (llama2.c header {Header}).");
        int rows = (int)t.Shape[0], cols = t.Shape.Length > 1 ? (int)t.Shape[1] : 1;
        var source = new ReadOnlySpan<float>(_base + t.Offset, checked(rows * cols));
        if (t.PermuteHeads == 0)
        {
            source.CopyTo(destination);
            return;
        }
        // Interleaved pairs to halves: row (h, 2j + a) of llama2.c becomes row (h, a * half + j).
        int headSize = rows / t.PermuteHeads, half = headSize / 2;
        for (int h = 0; h < t.PermuteHeads; h++)
            for (int j = 0; j < half; j++)
                for (int a = 0; a < 2; a++)
                    source.Slice((h * headSize + 2 * j + a) * cols, cols).CopyTo(destination.Slice((h * headSize + a * half + j) * cols, cols));
    }

    /// <inheritdoc/>
    public void ReadLeadingRowsInto(string name, long rows, long cols, Span<float> destination) =>
        throw new ModelLoadException(FilePath, name, "a llama2.c checkpoint holds no position table; it holds Llama weights only.");

    /// <inheritdoc/>
    public void ReadTransposedInto(string name, int rows, int cols, Span<float> destination) =>
        throw new ModelLoadException(FilePath, name, "a llama2.c checkpoint holds Llama weights only.");

    /// <summary>Releases the mapping.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }
}
