using System;
using System.Linq;
using Xunit;
using SourceGenTransformer.Runtime;
using Engine = global::SourceGenTransformer.Generated.SourceGenTransformer.Tests;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The kernels specialised to a weight precision (float32 streaming, bfloat16, Int8 and Q4_0 in integers) and the prompt's matrix-matrix
/// kernels, each against the scalar matrix-vector product over the float32 values the packed weights stand for.
/// </summary>
public class PrecisionKernelTests
{
    private delegate void F32Kernel(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int rowStart, int rowEnd);
    private delegate void Bf16Kernel(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w, int rowStart, int rowEnd);
    private delegate void Int8Kernel(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<Half> scales, int rowStart, int rowEnd);
    private delegate void F32Rows(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int tokens, int rowStart, int rowEnd);
    private delegate void Bf16Rows(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w, int tokens, int rowStart, int rowEnd);
    private delegate void Int8Rows(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<Half> scales, int tokens, int rowStart, int rowEnd);
    private delegate void Q4Kernel(Span<float> xout, ReadOnlySpan<float> x, BlockMatrix w, int rowStart, int rowEnd);
    private delegate void Q4Rows(Span<float> xout, ReadOnlySpan<float> x, BlockMatrix w, int tokens, int rowStart, int rowEnd);

    private static float[] Random(int n, int seed)
    {
        var rng = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Rows [rowStart, rowEnd) of W @ x for each token, in double; NaN elsewhere (must stay untouched).</summary>
    private static float[] Expected(float[] w, float[] x, int d, int n, int tokens, int rowStart, int rowEnd)
    {
        var e = new float[tokens * d];
        e.AsSpan().Fill(float.NaN);
        for (int t = 0; t < tokens; t++)
            for (int r = rowStart; r < rowEnd; r++)
            {
                double s = 0;
                for (int j = 0; j < n; j++) s += (double)w[r * n + j] * x[t * n + j];
                e[t * d + r] = (float)s;
            }
        return e;
    }

    private static void Check(float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i])) Assert.True(float.IsNaN(actual[i]), $"index {i} is outside the rows but was written: {actual[i]}");
            else Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-5f * MathF.Max(1f, MathF.Abs(expected[i])), $"index {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static float[] Output(int length)
    {
        var o = new float[length];
        o.AsSpan().Fill(float.NaN);
        return o;
    }

    private static readonly (int Start, int End)[] Ranges = [(0, -1), (3, -2), (1, 2)];

    private static (int, int) Resolve((int Start, int End) r, int d) => (Math.Min(r.Start, d), r.End < 0 ? d + r.End + 1 : Math.Min(r.End, d));

    private static void RunF32(F32Kernel kernel, int d, int n)
    {
        float[] w = Random(d * n, d + n), x = Random(n, n);
        foreach (var range in Ranges)
        {
            (int s, int e) = Resolve(range, d);
            float[] actual = Output(d);
            kernel(actual, x, w, s, e);
            Check(Expected(w, x, d, n, 1, s, e), actual);
        }
    }

    private static void RunBf16(Bf16Kernel kernel, int d, int n)
    {
        float[] w = Random(d * n, d + n), x = Random(n, n);
        var packed = new ushort[w.Length];
        WeightPacking.ToBFloat16(w, packed);
        WeightPacking.FromBFloat16(packed, w);
        foreach (var range in Ranges)
        {
            (int s, int e) = Resolve(range, d);
            float[] actual = Output(d);
            kernel(actual, x, packed, s, e);
            Check(Expected(w, x, d, n, 1, s, e), actual);
        }
    }

    [Fact]
    public void Streaming_float32_matvec_matches_scalar()
    {
        RunF32(Engine.StreamingAwkwardLlamaKernels.MatVec264x264, 264, 264);
        RunF32(Engine.StreamingAwkwardLlamaKernels.MatVec88x264, 88, 264);
        RunF32(Engine.StreamingAwkwardLlamaKernels.MatVec300x264, 300, 264);
        RunF32(Engine.StreamingAwkwardLlamaKernels.MatVec264x300, 264, 300);
        RunF32(Engine.WideAwkwardLlamaKernels.MatVec300x104, 300, 104);
    }

    /// <summary>Row ranges that start and end on panels of 32 (the only ones a panel kernel takes).</summary>
    private static readonly (int Start, int End)[] PanelRanges = [(0, -1), (32, -1), (0, 32), (32, 64)];

    private static float[] Panels(float[] w, int d, int n)
    {
        var panels = new float[w.Length];
        WeightPacking.ToPanels(w, d, n, panels);
        return panels;
    }

    public static TheoryData<int> PanelTokens() => new() { 1, 3, 4, 5, 11, 12, 13, 16, 24, 25, 40, 49, 64, 101 };

    [Fact]
    public void Panel_matvec_matches_scalar()
    {
        void Run(F32Kernel kernel, int d, int n)
        {
            float[] w = Random(d * n, d + n), x = Random(n, n), panels = Panels(w, d, n);
            foreach (var range in PanelRanges)
            {
                (int s, int e) = Resolve(range, d);
                float[] actual = Output(d);
                kernel(actual, x, panels, s, e);
                Check(Expected(w, x, d, n, 1, s, e), actual);
            }
        }
        Run(Engine.LlamaBasicKernels.MatVec64x64, 64, 64);
        Run(Engine.LlamaBasicKernels.MatVec160x64, 160, 64);
        Run(Engine.LlamaBasicKernels.MatVec64x160, 64, 160);
        Run(Engine.LlamaBasicKernels.MatVec96x64, 96, 64);        // the untied classifier
        Run(Engine.Gpt2BasicKernels.MatVec192x64, 192, 64);
        Run(Engine.Gpt2BasicKernels.MatVec64x256, 64, 256);
        Run(Engine.LlamaGqaTiedKernels.MatVec128x48, 128, 48);    // 48 columns: not a multiple of the 4 chains' 16
        Run(Engine.StreamingAwkwardLlamaKernels.MatVec16384x264, 16384, 264);
    }

    [Fact]
    public void Tied_classifier_keeps_the_row_major_kernel_beside_the_panel_one()
    {
        // Gpt2Basic's classifier is its token embedding (row-major); layer matrices of the same shape would use panels.
        RunF32(Engine.Gpt2BasicKernels.MatVec96x64Rows, 96, 64);
    }

    /// <summary>
    /// Rows [rowStart, rowEnd) of W @ x for each token, each output one float32 FMA chain over the columns in order:
    /// fma(w[r, n-1], x[n-1], ... fma(w[r, 0], x[0], 0)). NaN elsewhere (must stay untouched).
    /// </summary>
    private static float[] Chain(float[] w, float[] x, int d, int n, int tokens, int rowStart, int rowEnd)
    {
        float[] e = Output(tokens * d);
        for (int t = 0; t < tokens; t++)
            for (int r = rowStart; r < rowEnd; r++)
            {
                float sum = 0f;
                for (int k = 0; k < n; k++) sum = MathF.FusedMultiplyAdd(w[r * n + k], x[t * n + k], sum);
                e[t * d + r] = sum;
            }
        return e;
    }

    [Theory]
    [MemberData(nameof(PanelTokens))]
    public void Panel_matmul_sums_each_output_in_one_chain_in_column_order(int tokens)
    {
        // The documented order, so results cannot depend on the thread split, the vector width or the input padding.
        // Equal bit for bit, not within a tolerance, for every panel-aligned range of rows.
        void Run(F32Rows kernel, int d, int n)
        {
            float[] w = Random(d * n, d * n), x = Random(tokens * n, tokens), panels = Panels(w, d, n);
            foreach (var range in PanelRanges)
            {
                (int s, int e) = Resolve(range, d);
                float[] actual = Output(tokens * d);
                kernel(actual, x, panels, tokens, s, e);
                Assert.Equal(Chain(w, x, d, n, tokens, s, e), actual);
            }
        }
        Run(Engine.LlamaBasicKernels.MatMul64x64, 64, 64);
        Run(Engine.LlamaBasicKernels.MatMul160x64, 160, 64);
        Run(Engine.LlamaBasicKernels.MatMul64x160, 64, 160);
        Run(Engine.Gpt2BasicKernels.MatMul192x64, 192, 64);
        Run(Engine.LlamaGqaTiedKernels.MatMul128x48, 128, 48);
        Run(Engine.PaddedInputLlamaKernels.MatMul64x1024, 64, 1024); // input copied to padded rows, 48 tokens at a time
    }

    [Fact]
    public void Panel_kernels_reject_rows_that_split_a_panel()
    {
        var e = Assert.Throws<ArgumentException>(() => Engine.LlamaBasicKernels.MatVec64x64(new float[64], new float[64], new float[64 * 64], 16, 64));
        Assert.Contains("[16, 64)", e.Message);
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicKernels.MatMul64x64(new float[64], new float[64], new float[64 * 64], 1, 0, 48));
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicKernels.MatMul64x64(new float[64], new float[64], new float[64 * 64 - 1], 1, 0, 64));
    }

    [Fact]
    public void Panels_hold_every_weight_where_the_layout_says_and_reject_a_partial_panel()
    {
        const int d = 96, n = 7;
        float[] w = Random(d * n, 5);
        float[] panels = Panels(w, d, n);
        // Weight (r, c) at (r / 32) * 32 * cols + c * 32 + r % 32 (WeightPacking's remarks), for every weight.
        for (int r = 0; r < d; r++)
            for (int c = 0; c < n; c++)
                Assert.Equal(w[r * n + c], panels[r / 32 * 32 * n + c * 32 + r % 32]);
        var e = Assert.Throws<ArgumentException>(() => WeightPacking.ToPanels(w, 48, 14, new float[w.Length]));
        Assert.Contains("(48, 14)", e.Message);
        Assert.Throws<ArgumentException>(() => WeightPacking.ToPanels(w, 96, 7, new float[w.Length - 1]));
    }

    [Fact]
    public void Bfloat16_matvec_matches_scalar_resident_and_streaming()
    {
        RunBf16(Engine.LlamaBasicBf16Kernels.MatVec64x64, 64, 64);
        RunBf16(Engine.LlamaBasicBf16Kernels.MatVec160x64, 160, 64);
        RunBf16(Engine.LlamaBasicBf16Kernels.MatVec64x160, 64, 160);
        RunBf16(Engine.LlamaBasicBf16Kernels.MatVec96x64, 96, 64);
        RunBf16(Engine.StreamingBf16LlamaKernels.MatVec264x264, 264, 264);
        RunBf16(Engine.StreamingBf16LlamaKernels.MatVec88x264, 88, 264);
        RunBf16(Engine.StreamingBf16LlamaKernels.MatVec264x300, 264, 300);
        RunBf16(Engine.StreamingBf16LlamaKernels.MatVec40000x264, 40000, 264);
    }

    [Fact]
    public void Int8_matvec_multiplies_the_blocks_by_the_input_quantised_to_q8_0()
    {
        void Run(Int8Kernel kernel, int d, int n)
        {
            foreach (var range in Ranges)
                RunInt8((xout, x, w, scales, tokens, s, e) => kernel(xout, x, w, scales, s, e), d, n, 1, range);
        }
        Run(Engine.LlamaBasicInt8Kernels.MatVec64x64, 64, 64);
        Run(Engine.LlamaBasicInt8Kernels.MatVec160x64, 160, 64);
        Run(Engine.LlamaBasicInt8Kernels.MatVec64x160, 64, 160);     // 5 blocks a row: the odd last block
        Run(Engine.LlamaOddInt8Kernels.MatVec99x32, 99, 32);         // rows past the last panel; one block a row
        Run(Engine.LlamaOddInt8Kernels.MatVec32x96, 32, 96);         // a pair of blocks and an unpaired one
        Run(Engine.LlamaOddInt8Kernels.MatVec96x32, 96, 32);
        Run(Engine.StreamingInt8LlamaKernels.MatVec96x96, 96, 96);
        Run(Engine.StreamingInt8LlamaKernels.MatVec48x96, 48, 96);
        Run(Engine.StreamingInt8LlamaKernels.MatVec96x160, 96, 160);
        Run(Engine.StreamingInt8LlamaKernels.MatVec200000x96, 200000, 96);
        Run(Engine.StoryTellerInt8Kernels.MatVec192x192, 192, 192);
        Run(Engine.StoryTellerInt8Kernels.MatVec64x192, 64, 192);
        Run(Engine.StoryTellerInt8Kernels.MatVec192x512, 192, 512);
        Run(Engine.Gpt2BasicInt8Kernels.MatVec192x64, 192, 64);
    }

    /// <summary>
    /// What a Q4_0 product multiplies, written here from ggml's formats: the weights of each block of 32 are
    /// <c>(nibble - 8) · d</c> (byte j holds weight j in its low nibble and weight j + 16 in its high one), and the input is
    /// first quantised to Q8_0 as llama.cpp's x86 <c>quantize_row_q8_0</c> does: <c>d = max|x| / 127</c> stored as
    /// float16, values <c>round(x · (127 / max|x|))</c>, ties to even.
    /// </summary>
    private static (float[] Weights, float[] Input) Q4Operands(int d, int n, int tokens, int seed, out BlockMatrix matrix)
    {
        float[] w = Random(d * n, seed), x = Random(tokens * n, seed + 1);
        var blocks = new byte[d * n / 32 * 18]; // ggml's block_q4_0: a float16 d, then 16 bytes of nibbles
        for (int r = 0; r < d; r++) GgmlQuants.Quantize(GgmlType.Q4_0, w.AsSpan(r * n, n), blocks.AsSpan(r * n / 32 * 18, n / 32 * 18));
        for (int i = 0; i < w.Length; i++)
        {
            int block = i / 32 * 18;
            byte pair = blocks[block + 2 + i % 16];
            w[i] = ((i % 32 < 16 ? pair & 0x0F : pair >> 4) - 8) * (float)BitConverter.ToHalf(blocks, block);
        }
        matrix = new BlockMatrix(GgmlType.Q4_0, d, n);
        matrix.WriteRows(0, blocks); // the kernels' layout: panels of eight rows
        return (w, Q8Input(x));
    }

    /// <summary>The input as the kernels multiply it: Q8_0 blocks of 32, as llama.cpp's x86 <c>quantize_row_q8_0</c> computes them.</summary>
    private static float[] Q8Input(float[] x)
    {
        var q8 = new float[x.Length];
        for (int b = 0; b < x.Length / 32; b++)
        {
            float max = 0f;
            for (int j = 0; j < 32; j++) max = MathF.Max(max, MathF.Abs(x[b * 32 + j]));
            float scale = (float)(Half)(max / 127f), inverse = max != 0f ? 127f / max : 0f;
            for (int j = 0; j < 32; j++) q8[b * 32 + j] = MathF.Round(x[b * 32 + j] * inverse, MidpointRounding.ToEven) * scale;
        }
        return q8;
    }

    /// <summary>
    /// Where weight (r, c) of an Int8 matrix and its scale sit once in panels, written here from the layout's
    /// description: per panel of sixteen rows and block of 32 columns, 512 bytes holding the 16 pairs of columns, each the
    /// sixteen rows' two weights side by side; rows past the last whole panel row-major.
    /// </summary>
    internal static (int At, int Scale) Int8Index(int r, int c, int rows, int cols)
    {
        int blocks = cols / 32, panelRows = rows - rows % 16;
        if (r >= panelRows) return (r * cols + c, r * blocks + c / 32);
        int panel = r / 16, m = r % 16, b = c / 32, j = c % 32;
        return (panel * 16 * cols + b * 512 + j / 2 * 32 + 2 * m + j % 2, panel * 16 * blocks + b * 16 + m);
    }

    [Theory]
    [InlineData(99, 32)]   // rows past the last panel of sixteen
    [InlineData(16, 96)]   // one panel
    [InlineData(40, 160)]
    [InlineData(15, 64)]   // no whole Int8 panel
    public void An_embedding_row_looked_up_in_panels_is_the_row_dequantised(int rows, int cols)
    {
        float[] w = Random(rows * cols, rows + cols);
        var q = new sbyte[w.Length];
        var qScales = new Half[w.Length / 32];
        WeightPacking.ToInt8(w, 32, q, qScales);
        var int8Rows = new float[w.Length];
        WeightPacking.FromInt8(q, qScales, 32, int8Rows);
        IntegerBlocks.ToPanels(q, qScales, rows, cols);


        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            IntegerBlocks.Int8RowValues(q, qScales, r, cols, rows - rows % 16, row);
            Assert.Equal(int8Rows.AsSpan(r * cols, cols).ToArray(), row);
        }
        Assert.Throws<ArgumentException>(() => IntegerBlocks.Int8RowValues(q, qScales, rows, cols, rows - rows % 16, row));
    }

    [Fact]
    public void Int8_panels_hold_every_weight_where_the_layout_says()
    {
        foreach ((int rows, int cols) in new[] { (99, 32), (16, 96), (32, 64), (15, 32), (40, 160) })
        {
            var q = new sbyte[rows * cols];
            var scales = new Half[rows * cols / 32];
            for (int i = 0; i < q.Length; i++) q[i] = (sbyte)(i * 7 % 255 - 127);
            for (int i = 0; i < scales.Length; i++) scales[i] = (Half)i;
            sbyte[] rowMajor = q.ToArray();
            IntegerBlocks.ToPanels(q, scales, rows, cols);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    (int at, int scale) = Int8Index(r, c, rows, cols);
                    Assert.Equal(rowMajor[r * cols + c], q[at]);
                    Assert.Equal(r * (cols / 32) + c / 32, (float)scales[scale]);
                }
        }
    }

    /// <summary>
    /// The tokens' rows of an Int8 product: weights <c>q · scale</c> per block of 32 (<see cref="WeightPacking.FromInt8"/>)
    /// times the input quantised to Q8_0; <paramref name="kernel"/> gets the float input and quantises it itself.
    /// </summary>
    private static void RunInt8(Int8Rows kernel, int d, int n, int tokens, (int Start, int End) range)
    {
        float[] w = Random(d * n, d + n + tokens), x = Random(tokens * n, d + n + tokens + 1);
        var q = new sbyte[w.Length];
        var scales = new Half[w.Length / 32];
        WeightPacking.ToInt8(w, 32, q, scales);
        WeightPacking.FromInt8(q, scales, 32, w);
        IntegerBlocks.ToPanels(q, scales, d, n); // the kernels' layout: panels of four rows
        (int s, int e) = Resolve(range, d);
        float[] actual = Output(tokens * d);
        kernel(actual, x, q, scales, tokens, s, e);
        Check(Expected(w, Q8Input(x), d, n, tokens, s, e), actual);
    }

    /// <summary>The tokens' rows of a Q4_0 product; <paramref name="x"/> is the float input, quantised by the kernel.</summary>
    private static void RunQ4(Q4Rows kernel, int d, int n, int tokens, (int Start, int End) range)
    {
        (float[] w, float[] q8) = Q4Operands(d, n, tokens, d + n + tokens, out BlockMatrix matrix);
        float[] x = Random(tokens * n, d + n + tokens + 1);
        (int s, int e) = Resolve(range, d);
        float[] actual = Output(tokens * d);
        kernel(actual, x, matrix, tokens, s, e);
        Check(Expected(w, q8, d, n, tokens, s, e), actual);
    }

    [Fact]
    public void Q4_0_matvec_multiplies_the_blocks_by_the_input_quantised_to_q8_0()
    {
        void Run(Q4Kernel kernel, int d, int n)
        {
            foreach (var range in Ranges)
                RunQ4((xout, x, w, tokens, s, e) => kernel(xout, x, w, s, e), d, n, 1, range);
        }
        Run(Engine.LlamaBasicQ4Kernels.MatVec64x160, 64, 160);    // 5 blocks a row
        Run(Engine.LlamaOddQ4Kernels.MatVec99x32, 99, 32);        // rows past the last panel of eight; one block a row
        Run(Engine.LlamaOddQ4Kernels.MatVec32x96, 32, 96);
        Run(Engine.LlamaOddQ4Kernels.MatVec96x32, 96, 32);
        Run(Engine.LlamaBasicQ4Kernels.MatVec64x64, 64, 64);
        Run(Engine.LlamaBasicQ4Kernels.MatVec160x64, 160, 64);
        Run(Engine.LlamaBasicQ4Kernels.MatVec96x64, 96, 64);
        Run(Engine.StoryTellerQ4Kernels.MatVec192x192, 192, 192);
        Run(Engine.StoryTellerQ4Kernels.MatVec64x192, 64, 192);
        Run(Engine.StoryTellerQ4Kernels.MatVec192x512, 192, 512);
        Run(Engine.StoryTellerQ4Kernels.MatVec1024x192, 1024, 192);
        Run(Engine.Gpt2BasicQ4Kernels.MatVec192x64, 192, 64);
        Run(Engine.Gpt2BasicQ4Kernels.MatVec64x256, 64, 256);
    }

    [Fact]
    public void Q4_0_kernels_reject_short_operands()
    {
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicQ4Kernels.MatVec64x64(new float[64], new float[64], new BlockMatrix(GgmlType.Q4_0, 64, 32), 0, 64));
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicQ4Kernels.MatVec64x64(new float[63], new float[64], new BlockMatrix(GgmlType.Q4_0, 64, 64), 0, 64));
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicQ4Kernels.MatMul64x64(new float[64], new float[128], new BlockMatrix(GgmlType.Q4_0, 64, 64), 2, 0, 64));
        Assert.Throws<ArgumentException>(() => BlockKernels.QuantizeQ8_0(new float[40], new sbyte[40], new float[8], new int[8], 8));
        Assert.Throws<ArgumentException>(() => BlockKernels.QuantizeQ8_0(new float[64], new sbyte[64], new float[8], new int[1], 8));
        Assert.Throws<ArgumentException>(() => IntegerBlocks.QuantizeInOrder(new float[40], new short[40], new float[8]));
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicInt8Kernels.MatMul64x64(new float[64], new float[128], new sbyte[64 * 64], new Half[128], 2, 0, 64));
        Assert.Throws<ArgumentException>(() => IntegerBlocks.ToPanels(new sbyte[64 * 64 - 1], new Half[128], 64, 64));
    }

    public static TheoryData<int, int> Blocks()
    {
        var data = new TheoryData<int, int>();
        // Blocks of 16 tokens and more as well: several passes of the 4-token tiles and a leftover.
        foreach (int tokens in new[] { 1, 3, 4, 5, 9, 16, 23, 40 })
            foreach (int range in new[] { 0, 1, 2 })
                data.Add(tokens, range);
        return data;
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Prompt_matmul_matches_scalar_in_every_precision(int tokens, int range)
    {
        void F32(F32Rows kernel, int d, int n)
        {
            float[] w = Random(d * n, d * n), x = Random(tokens * n, tokens);
            (int s, int e) = Resolve(Ranges[range], d);
            float[] actual = Output(tokens * d);
            kernel(actual, x, w, tokens, s, e);
            Check(Expected(w, x, d, n, tokens, s, e), actual);
        }
        void Bf16(Bf16Rows kernel, int d, int n)
        {
            float[] w = Random(d * n, d * n), x = Random(tokens * n, tokens);
            var packed = new ushort[w.Length];
            WeightPacking.ToBFloat16(w, packed);
            WeightPacking.FromBFloat16(packed, w);
            (int s, int e) = Resolve(Ranges[range], d);
            float[] actual = Output(tokens * d);
            kernel(actual, x, packed, tokens, s, e);
            Check(Expected(w, x, d, n, tokens, s, e), actual);
        }
        F32(Engine.LlamaOddKernels.MatMul36x36, 36, 36);      // tails: 36 = 4 vectors + 4
        F32(Engine.LlamaOddKernels.MatMul100x36, 100, 36);
        F32(Engine.LlamaOddKernels.MatMul36x100, 36, 100);
        F32(Engine.LlamaOddKernels.MatMul12x36, 12, 36);      // multi-query: one key/value head of 12
        F32(Engine.Gpt2OddKernels.MatMul120x40, 120, 40);
        Bf16(Engine.LlamaBasicBf16Kernels.MatMul64x64, 64, 64);
        Bf16(Engine.LlamaBasicBf16Kernels.MatMul160x64, 160, 64);
        Bf16(Engine.StreamingBf16LlamaKernels.MatMul264x300, 264, 300);
        // Int8: 32 tokens per pass (tiles of 4, 2, 1), the same panels and edges as Q4_0.
        RunInt8(Engine.LlamaBasicInt8Kernels.MatMul64x160, 64, 160, tokens, Ranges[range]);
        RunInt8(Engine.LlamaBasicInt8Kernels.MatMul160x64, 160, 64, tokens, Ranges[range]);
        RunInt8(Engine.LlamaOddInt8Kernels.MatMul32x96, 32, 96, tokens, Ranges[range]);
        RunInt8(Engine.LlamaOddInt8Kernels.MatMul96x32, 96, 32, tokens, Ranges[range]);
        RunInt8(Engine.StoryTellerInt8Kernels.MatMul512x192, 512, 192, tokens, Ranges[range]);
        // Q4_0: 32 tokens or fewer are quantised per pass (tiles of 4, then 1), so 40 take two; panels of eight rows and edge rows (odd ranges).
        RunQ4(Engine.LlamaBasicQ4Kernels.MatMul64x160, 64, 160, tokens, Ranges[range]);
        RunQ4(Engine.LlamaOddQ4Kernels.MatMul32x96, 32, 96, tokens, Ranges[range]);
        RunQ4(Engine.LlamaOddQ4Kernels.MatMul96x32, 96, 32, tokens, Ranges[range]);
        RunQ4(Engine.LlamaBasicQ4Kernels.MatMul160x64, 160, 64, tokens, Ranges[range]);
        RunQ4(Engine.StoryTellerQ4Kernels.MatMul512x192, 512, 192, tokens, Ranges[range]);
        RunQ4(Engine.StoryTellerQ4Kernels.MatMul64x192, 64, 192, tokens, Ranges[range]);
    }

    [Fact]
    public void Kernels_reject_a_row_range_outside_the_matrix()
    {
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicBf16Kernels.MatVec64x64(new float[64], new float[64], new ushort[64 * 64], 0, 65));
        Assert.Throws<ArgumentException>(() => Engine.LlamaBasicInt8Kernels.MatVec64x64(new float[64], new float[64], new sbyte[64 * 64], new Half[64 * 64 / 32 - 1], 0, 64));
        Assert.Throws<ArgumentException>(() => Engine.LlamaOddKernels.MatMul36x36(new float[36], new float[36], new float[36 * 36], 2, 0, 36));
    }
}
