using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The weights of a sweep case (tests/fixtures/make_sweep_fixtures.py), regenerated bit for bit from their seed instead
/// of stored: x_i = 2 * ((z_i &gt;&gt; 40) * 2^-24) - 1 with z_i a SplitMix64 finalizer of a per-tensor counter, then
/// w_i = offset + scale * x_i in float32. The script's docstring gives the same recipe.
/// </summary>
internal static class SweepWeights
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    public static ulong Fnv1a64(string text)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text)) h = (h ^ b) * 0x100000001B3UL;
        return h;
    }

    /// <summary>The values of tensor <paramref name="name"/> of a case with <paramref name="seed"/>.</summary>
    public static void Fill(string name, ulong seed, float scale, float offset, Span<float> values)
    {
        ulong b = Fnv1a64(name) ^ (seed * Golden);
        for (int i = 0; i < values.Length; i++)
        {
            ulong z = b + (ulong)(i + 1) * Golden;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            float u = (z >> 40) * (1f / 16777216f);
            float x = 2f * u - 1f;
            values[i] = offset + scale * x;
        }
    }

    /// <summary>One tensor of a safetensors file the tests write.</summary>
    public sealed record Tensor(string Name, long[] Shape, float[] Values);

    /// <summary>The tensors of a case, regenerated from its JSON record.</summary>
    public static List<Tensor> Regenerate(JsonElement record)
    {
        ulong seed = record.GetProperty("seed").GetUInt64();
        var tensors = new List<Tensor>();
        foreach (JsonElement t in record.GetProperty("tensors").EnumerateArray())
        {
            var shape = new List<long>();
            long count = 1;
            foreach (JsonElement d in t.GetProperty("shape").EnumerateArray())
            {
                shape.Add(d.GetInt64());
                count *= d.GetInt64();
            }
            var values = new float[count];
            Fill(t.GetProperty("name").GetString()!, seed, t.GetProperty("scale").GetSingle(), t.GetProperty("offset").GetSingle(), values);
            tensors.Add(new Tensor(t.GetProperty("name").GetString()!, shape.ToArray(), values));
        }
        return tensors;
    }

    /// <summary>Writes float32 tensors as a safetensors file, as the reference writer lays it out (header padded with spaces to 8).</summary>
    public static void WriteSafetensors(string path, IReadOnlyList<Tensor> tensors)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        foreach (Tensor t in tensors)
        {
            long bytes = 4L * t.Values.Length;
            header.Append('"').Append(t.Name).Append("\":{\"dtype\":\"F32\",\"shape\":[").Append(string.Join(",", t.Shape))
                .Append("],\"data_offsets\":[").Append(offset).Append(',').Append(offset + bytes).Append("]},");
            offset += bytes;
        }
        header.Append("\"__metadata__\":{\"format\":\"pt\"}}");
        while ((header.Length + 8) % 8 != 0) header.Append(' ');
        byte[] text = Encoding.UTF8.GetBytes(header.ToString());
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.Write(BitConverter.GetBytes((ulong)text.Length));
        file.Write(text);
        foreach (Tensor t in tensors) file.Write(MemoryMarshal.AsBytes(t.Values.AsSpan()));
    }
}
