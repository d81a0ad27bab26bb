using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Benchmarks;

/// <summary>Weight files of small random values (fixed seed) in safetensors and in llama2.c's legacy format.</summary>
internal static class RandomWeights
{
    /// <summary>Hugging Face Llama names and shapes for an untied model.</summary>
    public static void WriteLlama(Shape c, string path, string dir) => WriteSafetensors(path, LlamaTensors(c));

    /// <summary>The tensors of <see cref="WriteLlama"/>, in file order.</summary>
    public static List<(string Name, long[] Shape)> LlamaTensors(Shape c)
    {
        var t = new List<(string, long[])> { ("model.embed_tokens.weight", [c.Vocab, c.Dim]) };
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            t.Add((p + "input_layernorm.weight", [c.Dim]));
            t.Add((p + "self_attn.q_proj.weight", [c.Dim, c.Dim]));
            t.Add((p + "self_attn.k_proj.weight", [c.Dim, c.Dim]));
            t.Add((p + "self_attn.v_proj.weight", [c.Dim, c.Dim]));
            t.Add((p + "self_attn.o_proj.weight", [c.Dim, c.Dim]));
            t.Add((p + "post_attention_layernorm.weight", [c.Dim]));
            t.Add((p + "mlp.gate_proj.weight", [c.Ffn, c.Dim]));
            t.Add((p + "mlp.up_proj.weight", [c.Ffn, c.Dim]));
            t.Add((p + "mlp.down_proj.weight", [c.Dim, c.Ffn]));
        }
        t.Add(("model.norm.weight", [c.Dim]));
        t.Add(("lm_head.weight", [c.Vocab, c.Dim]));
        return t;
    }

    /// <summary>The original Transformer in the nn.Transformer tutorial's names; returns the parameter count.</summary>
    public static long WriteSeq2Seq(string path, int encoderLayers, int decoderLayers, int dim, int ffn, int sourceVocab, int targetVocab, int maxSeq)
    {
        var t = new List<(string, long[])>
        {
            ("src_tok_emb.embedding.weight", [sourceVocab, dim]),
            ("tgt_tok_emb.embedding.weight", [targetVocab, dim]),
        };
        void Attention(string p)
        {
            t.Add((p + ".in_proj_weight", [3 * dim, dim]));
            t.Add((p + ".in_proj_bias", [3 * dim]));
            t.Add((p + ".out_proj.weight", [dim, dim]));
            t.Add((p + ".out_proj.bias", [dim]));
        }
        void FeedForwardAndNorms(string p, int norms)
        {
            t.Add((p + "linear1.weight", [ffn, dim]));
            t.Add((p + "linear1.bias", [ffn]));
            t.Add((p + "linear2.weight", [dim, ffn]));
            t.Add((p + "linear2.bias", [dim]));
            for (int n = 1; n <= norms; n++)
            {
                t.Add((p + $"norm{n}.weight", [dim]));
                t.Add((p + $"norm{n}.bias", [dim]));
            }
        }
        for (int l = 0; l < encoderLayers; l++)
        {
            string p = $"transformer.encoder.layers.{l}.";
            Attention(p + "self_attn");
            FeedForwardAndNorms(p, 2);
        }
        t.Add(("transformer.encoder.norm.weight", [dim]));
        t.Add(("transformer.encoder.norm.bias", [dim]));
        for (int l = 0; l < decoderLayers; l++)
        {
            string p = $"transformer.decoder.layers.{l}.";
            Attention(p + "self_attn");
            Attention(p + "multihead_attn");
            FeedForwardAndNorms(p, 3);
        }
        t.Add(("transformer.decoder.norm.weight", [dim]));
        t.Add(("transformer.decoder.norm.bias", [dim]));
        t.Add(("generator.weight", [targetVocab, dim]));
        t.Add(("generator.bias", [targetVocab]));
        return WriteSafetensors(path, t);
    }

    /// <summary>llama2.c's legacy checkpoint (the format its run.c reads): config header, then float32 tensors, unshared classifier.</summary>
    public static void WriteLlama2C(Shape c, string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        foreach (int v in new[] { c.Dim, c.Ffn, c.Layers, c.Heads, c.Heads, -c.Vocab, c.MaxSeq })
            file.Write(BitConverter.GetBytes(v));
        var rng = new Random(4321);
        long headHalf = c.Dim / c.Heads / 2;
        long count = (long)c.Vocab * c.Dim + c.Layers * (2L * c.Dim + 4L * c.Dim * c.Dim + 3L * c.Dim * c.Ffn) + c.Dim
            + 2 * c.MaxSeq * headHalf + (long)c.Vocab * c.Dim;
        WriteRandom(file, count, rng);

        // run.c also reads tokenizer.bin from its working directory (max token length, then per token: score, length,
        // bytes) to print what it generates: token i is the text "<i>".
        using var tokenizer = new BinaryWriter(System.IO.File.Create(Path.Combine(Path.GetDirectoryName(path)!, "tokenizer.bin")));
        tokenizer.Write(8);
        for (int i = 0; i < c.Vocab; i++)
        {
            byte[] text = Encoding.ASCII.GetBytes($"<{i}>");
            tokenizer.Write(0f);
            tokenizer.Write(text.Length);
            tokenizer.Write(text);
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> of random values as safetensors: F32 from a seeded Random, or BF16 (random values
    /// in [-0.05, 0.05) from a xorshift stream, for the large shapes); returns the element count.
    /// </summary>
    internal static long WriteSafetensors(string path, List<(string Name, long[] Shape)> tensors, string dtype = "F32")
    {
        int size = dtype == "BF16" ? 2 : 4;
        var header = new StringBuilder("{");
        long offset = 0;
        foreach ((string name, long[] shape) in tensors)
        {
            long bytes = size * shape.Aggregate(1L, (a, b) => a * b);
            if (header.Length > 1) header.Append(',');
            header.Append(CultureInfo.InvariantCulture, $"{JsonSerializer.Serialize(name, BenchJson.Default.String)}:{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        header.Append('}');
        while ((header.Length + 8) % 8 != 0) header.Append(' ');
        byte[] h = Encoding.UTF8.GetBytes(header.ToString());
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        file.Write(BitConverter.GetBytes((ulong)h.Length));
        file.Write(h);
        if (size == 4) WriteRandom(file, offset / 4, new Random(1234));
        else WriteRandomBFloat16(file, offset / 2);
        return offset / size;
    }

    private static void WriteRandomBFloat16(Stream file, long count)
    {
        var buffer = new ushort[1 << 16];
        ulong state = 0x9E3779B97F4A7C15;
        while (count > 0)
        {
            int n = (int)Math.Min(buffer.Length, count);
            for (int i = 0; i < n; i++)
            {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                float v = ((state >> 40) / (float)(1 << 24) - 0.5f) * 0.1f;
                buffer[i] = (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
            }
            file.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
            count -= n;
        }
    }

    private static void WriteRandom(Stream file, long count, Random rng)
    {
        var buffer = new float[1 << 16];
        while (count > 0)
        {
            int n = (int)Math.Min(buffer.Length, count);
            for (int i = 0; i < n; i++) buffer[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            file.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
            count -= n;
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BenchJson : System.Text.Json.Serialization.JsonSerializerContext;
