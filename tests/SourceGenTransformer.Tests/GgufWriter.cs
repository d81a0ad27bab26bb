using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Writes GGUF v3 files of float32 tensors for tests and the benchmark (which links this file), from the GGUF specification: the header, metadata key/values
/// (strings, u32, f32, the placeholder vocabulary llama.cpp needs), tensor infos and data aligned to 32. The llama
/// files are random weights in llama.cpp's names, which llama.cpp loads and quantises, and which we load beside it.
/// </summary>
internal sealed class GgufWriter
{
    private readonly MemoryStream _meta = new();
    private readonly BinaryWriter _w;
    private int _keys;

    public GgufWriter() => _w = new BinaryWriter(_meta);

    private static void Str(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    public void U32(string key, uint v) { Str(_w, key); _w.Write(4u); _w.Write(v); _keys++; }

    public void F32(string key, float v) { Str(_w, key); _w.Write(6u); _w.Write(v); _keys++; }

    public void S(string key, string v) { Str(_w, key); _w.Write(8u); Str(_w, v); _keys++; }

    /// <summary>tokenizer.ggml.model "none" and <paramref name="vocab"/> tokens named &lt;tN&gt;: what llama.cpp needs to load a model with no tokenizer.</summary>
    public void PlaceholderVocabulary(int vocab)
    {
        S("tokenizer.ggml.model", "none");
        Str(_w, "tokenizer.ggml.tokens");
        _w.Write(9u);
        _w.Write(8u);
        _w.Write((ulong)vocab);
        for (int i = 0; i < vocab; i++) Str(_w, $"<t{i}>");
        _keys++;
    }

    /// <summary>Writes the file: every tensor F32, its shape outermost first, its values given whole.</summary>
    public void Write(string path, IReadOnlyList<(string Name, long[] Shape, float[] Values)> tensors) =>
        Write(path, tensors.Select(t => (t.Name, t.Shape)).ToList(), (i, _) => tensors[i].Values);

    /// <summary>
    /// Writes the file: every tensor F32, its shape outermost first (aligned to 32), its values from
    /// <paramref name="values"/> (the tensor's index and a buffer of its size, which it may fill and return), one tensor
    /// at a time, so a file larger than memory can be written.
    /// </summary>
    public void Write(string path, IReadOnlyList<(string Name, long[] Shape)> tensors, Func<int, float[], float[]> values)
    {
        using var infos = new MemoryStream();
        var iw = new BinaryWriter(infos);
        ulong offset = 0;
        foreach ((string name, long[] shape) in tensors)
        {
            Str(iw, name);
            iw.Write((uint)shape.Length);
            for (int d = shape.Length - 1; d >= 0; d--) iw.Write((ulong)shape[d]);
            iw.Write(0u); // F32
            iw.Write(offset);
            offset += (ulong)(4 * shape.Aggregate(1L, (a, b) => a * b) + 31) / 32 * 32;
        }
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var w = new BinaryWriter(file);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)_keys);
        w.Write(_meta.ToArray());
        w.Write(infos.ToArray());
        while (file.Position % 32 != 0) w.Write((byte)0);
        for (int i = 0; i < tensors.Count; i++)
        {
            long count = tensors[i].Shape.Aggregate(1L, (a, b) => a * b);
            float[] v = values(i, new float[count]);
            if (v.LongLength != count) throw new ArgumentException($"{tensors[i].Name}: {v.Length} values for shape [{string.Join(", ", tensors[i].Shape)}]");
            w.Write(MemoryMarshal.AsBytes(v.AsSpan()));
            while (file.Position % 32 != 0) w.Write((byte)0);
        }
    }

    /// <summary>
    /// A llama-architecture F32 GGUF of random weights into a temporary file (the caller deletes it): matrices normal
    /// with standard deviation 0.05 (a seeded generator), norms near 1, the classifier left out when tied.
    /// </summary>
    public static string RandomLlama(int layers, int heads, int kvHeads, int dim, int ffn, int vocab, int context, bool tied, int seed)
    {
        var g = new GgufWriter();
        g.S("general.architecture", "llama");
        g.S("general.name", "random");
        g.U32("general.alignment", 32);
        g.U32("llama.vocab_size", (uint)vocab);
        g.U32("llama.block_count", (uint)layers);
        g.U32("llama.context_length", (uint)context);
        g.U32("llama.embedding_length", (uint)dim);
        g.U32("llama.feed_forward_length", (uint)ffn);
        g.U32("llama.attention.head_count", (uint)heads);
        g.U32("llama.attention.head_count_kv", (uint)kvHeads);
        g.U32("llama.rope.dimension_count", (uint)(dim / heads));
        g.F32("llama.rope.freq_base", 10000f);
        g.F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        g.PlaceholderVocabulary(vocab);

        var rng = new Random(seed);
        float Normal() => MathF.Sqrt(-2 * MathF.Log(1 - rng.NextSingle())) * MathF.Cos(2 * MathF.PI * rng.NextSingle());
        float[] Matrix(long rows, long cols) => Enumerable.Range(0, (int)(rows * cols)).Select(_ => 0.05f * Normal()).ToArray();
        float[] Norm(int n) => Enumerable.Range(0, n).Select(_ => 1f + 0.1f * Normal()).ToArray();
        int kv = dim / heads * kvHeads;
        var tensors = new List<(string, long[], float[])> { ("token_embd.weight", [vocab, dim], Matrix(vocab, dim)) };
        for (int l = 0; l < layers; l++)
        {
            string p = $"blk.{l}.";
            tensors.Add((p + "attn_norm.weight", [dim], Norm(dim)));
            tensors.Add((p + "attn_q.weight", [dim, dim], Matrix(dim, dim)));
            tensors.Add((p + "attn_k.weight", [kv, dim], Matrix(kv, dim)));
            tensors.Add((p + "attn_v.weight", [kv, dim], Matrix(kv, dim)));
            tensors.Add((p + "attn_output.weight", [dim, dim], Matrix(dim, dim)));
            tensors.Add((p + "ffn_norm.weight", [dim], Norm(dim)));
            tensors.Add((p + "ffn_gate.weight", [ffn, dim], Matrix(ffn, dim)));
            tensors.Add((p + "ffn_up.weight", [ffn, dim], Matrix(ffn, dim)));
            tensors.Add((p + "ffn_down.weight", [dim, ffn], Matrix(dim, ffn)));
        }
        tensors.Add(("output_norm.weight", [dim], Norm(dim)));
        if (!tied) tensors.Add(("output.weight", [vocab, dim], Matrix(vocab, dim)));
        string path = Path.Combine(Path.GetTempPath(), $"sgt-{Guid.NewGuid():N}-random.gguf");
        g.Write(path, tensors);
        return path;
    }
}
