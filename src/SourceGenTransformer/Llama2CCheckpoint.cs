using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using SourceGenTransformer.Runtime;

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
public sealed class Llama2CCheckpoint : TensorSource
{
    internal const uint Magic = 0x616b3432; // "ak42", little-endian uint32 at the start of a version-1 file

    private readonly WeightFileReader _file;
    private readonly Dictionary<string, (long Offset, long[] Shape, int PermuteHeads)> _tensors = new(StringComparer.Ordinal);

    /// <summary>The checkpoint's configuration, from its header.</summary>
    public readonly record struct Config(int Version, int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen, bool SharedClassifier);

    private Llama2CCheckpoint(WeightFileReader file, Config config, bool checkFinite)
        : base(file.FilePath, checkFinite)
    {
        _file = file;
        Header = config;
        Layout();
    }

    /// <summary>The header's configuration.</summary>
    public Config Header { get; }

    /// <inheritdoc/>
    public override IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>Opens and validates a llama2.c checkpoint (following symbolic links).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Loading options (<see cref="ModelOptions.CheckFiniteWeights"/>); null for the defaults.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is not a valid llama2.c checkpoint.</exception>
    public static Llama2CCheckpoint Open(string path, ModelOptions? options = null)
        => WeightFileReader.OpenWith(path, file => Open(file, options));

    internal static Llama2CCheckpoint Open(WeightFileReader file, ModelOptions? options) =>
        new(file, ReadHeader(file), options?.CheckFiniteWeights ?? true);

    private static Config ReadHeader(WeightFileReader file)
    {
        string path = file.FilePath;
        long length = file.Length;
        if (length < 28) throw new ModelLoadException(path, null, $"the file is {length} bytes, too short for a llama2.c header (28 bytes).");
        var head = new byte[37];
        file.ReadExactly(0, head.AsSpan(0, (int)Math.Min(head.Length, length)), null, "the header");
        int Int(int i) => BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(4 * i));
        Config config;
        if (BinaryPrimitives.ReadUInt32LittleEndian(head) == Magic)
        {
            if (length < 256) throw new ModelLoadException(path, null, $"the file is {length} bytes, too short for a llama2.c version-1 header (256 bytes).");
            if (Int(1) != 1) throw new ModelLoadException(path, null, $"llama2.c checkpoint version {Int(1)} is not supported; versions 0 (legacy) and 1 (float32) are.");
            config = new Config(1, Int(2), Int(3), Int(4), Int(5), Int(6), Int(7), Int(8), head[36] != 0);
        }
        else
        {
            // A negative vocab_size says the classifier is stored separately (int.MinValue has no positive twin).
            int vocab = Int(5);
            config = new Config(0, Int(0), Int(1), Int(2), Int(3), Int(4), vocab == int.MinValue ? 0 : Math.Abs(vocab), Int(6), vocab > 0);
        }
        if (config.Dim <= 0 || config.HiddenDim <= 0 || config.Layers <= 0 || config.Heads <= 0 || config.KvHeads <= 0
            || config.VocabSize <= 0 || config.SeqLen <= 0 || config.Dim % config.Heads != 0 || config.Heads % config.KvHeads != 0
            || config.Dim / config.Heads % 2 != 0
            || config.Dim > 1 << 16 || config.HiddenDim > 1 << 18 || config.Layers > 1 << 10 || config.VocabSize > 1 << 22 || config.SeqLen > 1 << 20)
            throw new ModelLoadException(path, null, $"the header does not describe a llama2.c model ({config}).");
        long expected = ExpectedLength(config);
        if (expected != length)
            throw new ModelLoadException(path, null,
                $"a llama2.c version-{config.Version} checkpoint with this header ({config}) is {expected} bytes, but the file is {length}; it is truncated or not a llama2.c file.");
        return config;
    }

    /// <summary>Every header field must agree with the declaration: shapes alone cannot tell heads apart, and heads decide the RoPE permutation.</summary>
    protected override void OnDeclared(DeclaredModel model)
    {
        Config c = Header;
        var wrong = new List<string>();
        void Same(string field, int found, string property, int declared)
        {
            if (found != declared) wrong.Add($"{field} = {found} where the declaration has {property} = {declared}");
        }
        Same("dim", c.Dim, "ModelDim", model.ModelDim);
        Same("hidden_dim", c.HiddenDim, "FeedForwardDim", model.FeedForwardDim);
        Same("n_layers", c.Layers, "Layers", model.Layers);
        Same("n_heads", c.Heads, "Heads", model.Heads);
        Same("n_kv_heads", c.KvHeads, "KvHeads", model.KvHeads);
        Same("vocab_size", c.VocabSize, "VocabSize", model.VocabSize);
        if (c.SeqLen < model.MaxSequenceLength)
            wrong.Add($"seq_len = {c.SeqLen}, shorter than the declaration's MaxSequenceLength = {model.MaxSequenceLength} (a shorter MaxSequenceLength is fine)");
        if (wrong.Count > 0)
            throw new ModelLoadException(FilePath, null, $"the llama2.c header does not match {model.ClassName}: {string.Join("; ", wrong)}.");
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
    public override bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc/>
    protected override long[]? FindShape(string name) => _tensors.TryGetValue(name, out var t) ? t.Shape : null;

    /// <inheritdoc/>
    protected internal override void ReadElementsCore(string name, long first, Span<float> destination)
    {
        var t = _tensors[name];
        if (t.PermuteHeads == 0)
        {
            _file.ReadExactly(t.Offset + 4 * first, MemoryMarshal.AsBytes(destination), name, "its data");
            return;
        }
        ReadInterleavedRope(t.Shape, t.PermuteHeads, first, destination,
            (at, into) => _file.ReadExactly(t.Offset + 4 * at, MemoryMarshal.AsBytes(into), name, "its data"));
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
    }
}
