using System;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// <see cref="GgmlQuants"/> against ggml itself (<see cref="GgmlNative"/>): rows quantised by us are ggml's bytes, bit
/// for bit, and every block type dequantises to ggml's floats, bit for bit, over a sweep of value distributions (wide
/// and narrow, one-signed, with outliers, constant, all zero, subnormal-small and large) and row lengths.
/// </summary>
public sealed class GgmlQuantsTests
{
    /// <summary>The distributions of the sweep, by name: each fills a row from a seeded generator.</summary>
    private static readonly (string Name, Func<Random, int, float> Value)[] Distributions =
    [
        ("normal", (r, _) => Normal(r)),
        ("small normal", (r, _) => Normal(r) * 1e-3f),
        ("large normal", (r, _) => Normal(r) * 1e4f),
        ("uniform", (r, _) => r.NextSingle() * 2 - 1),
        ("positive", (r, _) => r.NextSingle()),
        ("negative", (r, _) => -r.NextSingle() - 0.5f),
        ("outliers", (r, i) => i % 97 == 3 ? Normal(r) * 40 : Normal(r)),
        ("sparse", (r, i) => i % 11 == 0 ? Normal(r) : 0f),
        ("constant", (_, _) => 0.375f),
        ("zeros", (_, _) => 0f),
        ("one value", (_, i) => i == 5 ? -2.5f : 0f),
        ("tiny", (r, _) => Normal(r) * 1e-30f),
        ("steps", (r, _) => r.Next(-3, 4) * 0.25f),
        ("heavy tail", (r, _) => MathF.Pow(r.NextSingle(), 6) * (r.Next(2) * 2 - 1) * 8),
    ];

    private static float Normal(Random r) => MathF.Sqrt(-2 * MathF.Log(1 - r.NextSingle())) * MathF.Cos(2 * MathF.PI * r.NextSingle());

    private static float[] Sample(int distribution, int rows, int cols, int seed)
    {
        var r = new Random(seed);
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++) values[i] = Distributions[distribution].Value(r, i % cols);
        return values;
    }

    public static TheoryData<GgmlType, int> QuantisedTypes()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (GgmlType type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K })
            for (int d = 0; d < Distributions.Length; d++) data.Add(type, d);
        return data;
    }

    [Theory]
    [MemberData(nameof(QuantisedTypes))]
    public void Rows_quantise_to_ggmls_bytes(GgmlType type, int distribution)
    {
        foreach (int cols in new[] { 256, 768, 1024 })
        {
            const int Rows = 24;
            float[] values = Sample(distribution, Rows, cols, seed: 1000 * distribution + cols);
            byte[] theirs = GgmlNative.Quantize(type, values, Rows, cols);
            int rowBytes = GgmlQuants.RowBytes(type, cols);
            var ours = new byte[Rows * rowBytes];
            for (int r = 0; r < Rows; r++) GgmlQuants.Quantize(type, values.AsSpan(r * cols, cols), ours.AsSpan(r * rowBytes, rowBytes));
            int differs = Enumerable.Range(0, ours.Length).FirstOrDefault(i => ours[i] != theirs[i], -1);
            Assert.True(differs < 0, $"{type}, {Distributions[distribution].Name}, rows of {cols}: byte {differs} (row {differs / rowBytes}, " +
                $"byte {differs % rowBytes} of it) is {(differs < 0 ? 0 : ours[differs])} where ggml wrote {(differs < 0 ? 0 : theirs[differs])}");
        }
    }

    // F32 is not a block type: ggml has no conversion of it (its to_float is null).
    public static TheoryData<GgmlType> AllTypes() => new(Enum.GetValues<GgmlType>().Where(t => t != GgmlType.F32));

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Blocks_dequantise_to_ggmls_floats(GgmlType type)
    {
        (int block, int bytes) = GgmlQuants.BlockOf(type);
        const int Cols = 1024, Rows = 16;
        for (int distribution = 0; distribution < Distributions.Length; distribution++)
        {
            // Blocks as ggml writes them from each distribution (F32, F16, BF16 too), then ggml's floats and ours.
            byte[] blocks = GgmlNative.Quantize(type, Sample(distribution, Rows, Cols, seed: 77 + distribution), Rows, Cols);
            float[] theirs = GgmlNative.Dequantize(type, blocks, Rows * Cols);
            var ours = new float[Rows * Cols];
            for (int b = 0; b < Rows * Cols / block; b++)
                GgmlQuants.Dequantize(type, blocks.AsSpan(b * bytes, bytes), ours.AsSpan(b * block, block));
            for (int i = 0; i < ours.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(ours[i]) == BitConverter.SingleToInt32Bits(theirs[i]),
                    $"{type}, {Distributions[distribution].Name}: value {i} dequantises to {ours[i]:R} where ggml gives {theirs[i]:R}");
        }
    }
}
