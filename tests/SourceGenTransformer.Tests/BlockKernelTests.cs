using System;
using System.Linq;
using SourceGenTransformer.Runtime;
using Xunit;
using Engine = global::SourceGenTransformer.Generated.SourceGenTransformer.Tests;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The <see cref="BlockMatrix"/> kernels of Q4K models (<see cref="BlockKernels"/> and the generated per-type kernels)
/// against a scalar reference built from ggml itself: the weights as ggml dequantises them (<see cref="GgmlNative"/>),
/// times the input's codes and scales (for Q4_K and Q6_K, ggml's own Q8_K of it), summed in double. Every type, rows of
/// one to four blocks, row ranges that start and end anywhere; a prompt block's outputs equal decoding's bit for bit.
/// </summary>
public sealed class BlockKernelTests
{
    private delegate void MatVec(Span<float> xout, ReadOnlySpan<float> x, BlockMatrix w, int rowStart, int rowEnd);
    private delegate void MatMul(Span<float> xout, ReadOnlySpan<float> x, BlockMatrix w, int tokens, int rowStart, int rowEnd);

    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
    }

    [Fact]
    public void The_input_quantises_to_ggmls_Q8_K_bit_for_bit()
    {
        foreach (float scale in new[] { 1f, 1e-3f, 3e4f })
        {
            float[] x = Random(1024, (int)scale + 5, scale);
            x[300] = 0; // a block with a zero beside large values
            Array.Clear(x, 512, 256); // an all-zero block
            (float[] scales, sbyte[] codes, short[] sums) = GgmlNative.QuantizeQ8K(x);
            var q = new sbyte[x.Length];
            var s = new float[x.Length / 256];
            var b = new short[x.Length / 16];
            BlockKernels.QuantizeQ8K(x, q, s, b);
            Assert.Equal(codes, q);
            Assert.Equal(sums.Where((_, i) => i / 16 != 2), b.Where((_, i) => i / 16 != 2)); // ggml leaves a zero block's sums as they were
            Assert.Equal(scales.Select(BitConverter.SingleToInt32Bits), s.Select(BitConverter.SingleToInt32Bits));
        }
    }

    /// <summary>Each row of W (ggml's values) times the input's quantised values, in double, for rows [rowStart, rowEnd); NaN elsewhere.</summary>
    private static float[] Expected(GgmlType type, byte[] w, float[] x, int d, int n, int rowStart, int rowEnd)
    {
        float[] weights = GgmlNative.Dequantize(type, w, d * n);
        double[] input = new double[n];
        if (type is GgmlType.Q4_K or GgmlType.Q6_K)
        {
            (float[] scales, sbyte[] codes, _) = GgmlNative.QuantizeQ8K(x);
            for (int i = 0; i < n; i++) input[i] = (double)codes[i] * scales[i / 256];
        }
        else
        {
            var q = new sbyte[n];
            var s = new float[n / 32];
            BlockKernels.QuantizeQ8_0(x, q, s, new int[n / 32], BlockMatrix.Block32Offset(type));
            for (int i = 0; i < n; i++) input[i] = (double)q[i] * s[i / 32];
        }
        var e = new float[d];
        e.AsSpan().Fill(float.NaN);
        for (int r = rowStart; r < rowEnd; r++)
        {
            double sum = 0;
            for (int j = 0; j < n; j++) sum += weights[r * n + j] * input[j];
            e[r] = (float)sum;
        }
        return e;
    }

    /// <summary>Random rows quantised by ggml itself (its bytes, for the reference), and the BlockMatrix holding them (in panels).</summary>
    private static (byte[] Ggml, BlockMatrix Matrix) Weights(GgmlType type, int d, int n, int seed, float scale)
    {
        byte[] ggml = GgmlNative.Quantize(type, Random(d * n, seed, scale), d, n);
        var m = new BlockMatrix(type, d, n);
        m.WriteRows(0, ggml);
        return (ggml, m);
    }

    private static void Run(GgmlType type, MatVec matVec, MatMul? matMul, int d, int n)
    {
        // Weights of 0.1, and of 1e-4, whose block scales are float16 subnormals (as a real Q6_K file's often are).
        Run(type, matVec, matMul, d, n, 0.1f);
        Run(type, matVec, matMul, d, n, 1e-4f);
    }

    private static void Run(GgmlType type, MatVec matVec, MatMul? matMul, int d, int n, float scale)
    {
        (byte[] w, BlockMatrix matrix) = Weights(type, d, n, d * 31 + n, scale);
        const int Tokens = 37; // more than a quantised chunk of most shapes
        float[] x = Random(Tokens * n, n + (int)type);
        // Whole rows, ragged edges, one row, and a share ending a panel short of a pair of panels (the prompt's
        // sixteen-row tiles of the blocks of 32, then one eight-row tile).
        foreach ((int s, int e) in new[] { (0, d), (3, d - 1), (1, 2), (d - 1, d), (0, d - 8) })
        {
            float[] actual = new float[d];
            actual.AsSpan().Fill(float.NaN);
            matVec(actual, x.AsSpan(0, n), matrix, s, e);
            float[] expected = Expected(type, w, x[..n], d, n, s, e);
            for (int i = 0; i < d; i++)
            {
                if (float.IsNaN(expected[i])) Assert.True(float.IsNaN(actual[i]), $"{type} {d}x{n}: row {i} is outside [{s}, {e}) but was written");
                else Assert.True(MathF.Abs(expected[i] - actual[i]) <= 2e-5f * MathF.Max(scale, MathF.Abs(expected[i])),
                    $"{type} {d}x{n}, rows [{s}, {e}): row {i} is {actual[i]}, the reference {expected[i]}");
            }

            // The prompt's product: every token's rows are decoding's, bit for bit.
            if (matMul is null) continue;
            float[] block = new float[Tokens * d];
            block.AsSpan().Fill(float.NaN);
            matMul(block, x, matrix, Tokens, s, e);
            for (int t = 0; t < Tokens; t++)
            {
                float[] one = new float[d];
                one.AsSpan().Fill(float.NaN);
                matVec(one, x.AsSpan(t * n, n), matrix, s, e);
                for (int i = 0; i < d; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(one[i]) == BitConverter.SingleToInt32Bits(block[t * d + i]),
                        $"{type} {d}x{n}, token {t}, row {i}: the prompt block gives {block[t * d + i]}, decoding {one[i]}");
            }
        }
    }

    [Fact]
    public void Q4_K_kernels_match_the_reference()
    {
        Run(GgmlType.Q4_K, Engine.LlamaKQ4KKernels.MatVec256x256Q4K, Engine.LlamaKQ4KKernels.MatMul256x256Q4K, 256, 256);
        Run(GgmlType.Q4_K, Engine.LlamaKQ4KKernels.MatVec256x512Q4K, Engine.LlamaKQ4KKernels.MatMul256x512Q4K, 256, 512);
        Run(GgmlType.Q4_K, Engine.LlamaKQ4KKernels.MatVec128x256Q4K, Engine.LlamaKQ4KKernels.MatMul128x256Q4K, 128, 256);
        Run(GgmlType.Q4_K, Engine.LlamaKOddQ4KKernels.MatVec299x256Q4K, null, 299, 256); // 37 panels and 3 rows past them
    }

    [Fact]
    public void Q6_K_kernels_match_the_reference()
    {
        Run(GgmlType.Q6_K, Engine.LlamaKQ4KKernels.MatVec256x256Q6K, Engine.LlamaKQ4KKernels.MatMul256x256Q6K, 256, 256);
        Run(GgmlType.Q6_K, Engine.LlamaKQ4KKernels.MatVec256x512Q6K, Engine.LlamaKQ4KKernels.MatMul256x512Q6K, 256, 512);
        Run(GgmlType.Q6_K, Engine.LlamaKQ4KKernels.MatVec288x256Q6K, null, 288, 256); // the classifier (decoding only)
        Run(GgmlType.Q6_K, Engine.LlamaKOddQ4KKernels.MatVec299x256Q6K, null, 299, 256); // 37 panels and 3 rows past them
    }

    [Theory]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void Kernels_of_blocks_of_32_match_the_reference(GgmlType type)
    {
        (MatVec v, MatMul m)[] kernels = type switch
        {
            GgmlType.Q5_0 => [(Engine.LlamaBasicQ4KKernels.MatVec64x64Q5_0, Engine.LlamaBasicQ4KKernels.MatMul64x64Q5_0), (Engine.LlamaBasicQ4KKernels.MatVec64x160Q5_0, Engine.LlamaBasicQ4KKernels.MatMul64x160Q5_0)],
            GgmlType.Q4_0 => [(Engine.LlamaBasicQ4KKernels.MatVec64x64Q4_0, Engine.LlamaBasicQ4KKernels.MatMul64x64Q4_0), (Engine.LlamaBasicQ4KKernels.MatVec64x160Q4_0, Engine.LlamaBasicQ4KKernels.MatMul64x160Q4_0)],
            _ => [(Engine.LlamaBasicQ4KKernels.MatVec64x64Q8_0, Engine.LlamaBasicQ4KKernels.MatMul64x64Q8_0), (Engine.LlamaBasicQ4KKernels.MatVec64x160Q8_0, Engine.LlamaBasicQ4KKernels.MatMul64x160Q8_0)],
        };
        Run(type, kernels[0].v, kernels[0].m, 64, 64);
        Run(type, kernels[1].v, kernels[1].m, 64, 160);
        MatVec odd = type switch
        {
            GgmlType.Q5_0 => Engine.LlamaOddQ4KKernels.MatVec99x32Q5_0,
            GgmlType.Q4_0 => Engine.LlamaOddQ4KKernels.MatVec99x32Q4_0,
            _ => Engine.LlamaOddQ4KKernels.MatVec99x32Q8_0,
        };
        Run(type, odd, null, 99, 32); // twelve panels and three rows past them, one block a row
    }

    /// <summary>
    /// Every type's BlockMatrix, in panels or rows, gives back each row as ggml dequantises it (the embedding lookup of a
    /// Q4K decoder), rows past the last panel included.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K, 256)]
    [InlineData(GgmlType.Q6_K, 512)]
    [InlineData(GgmlType.Q5_0, 96)]
    [InlineData(GgmlType.Q4_0, 64)]
    [InlineData(GgmlType.Q8_0, 32)]
    public void Rows_come_back_as_ggml_dequantises_them(GgmlType type, int n)
    {
        const int Rows = 21; // two panels of eight and five rows past them
        (byte[] ggml, BlockMatrix m) = Weights(type, Rows, n, 5, 0.1f);
        float[] theirs = GgmlNative.Dequantize(type, ggml, Rows * n);
        var row = new float[n];
        for (int r = 0; r < Rows; r++)
        {
            m.RowValues(r, row);
            for (int i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(row[i]) == BitConverter.SingleToInt32Bits(theirs[r * n + i]), $"{type}: row {r}, column {i} is {row[i]}, ggml's {theirs[r * n + i]}");
        }
        Assert.Equal(16, m.PanelRowCount);
    }
}
