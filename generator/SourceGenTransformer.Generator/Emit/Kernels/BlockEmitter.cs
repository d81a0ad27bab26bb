using System;
using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels of <c>BlockMatrix</c> products (<c>WeightPrecision.Q4K</c>): each matrix carries its own ggml block
/// type, so each product shape gets one kernel per type it can hold and a dispatcher that switches on the matrix's type
/// once per call. The typed kernels do llama.cpp's arithmetic (<c>BlockKernels</c>): the input quantised on the stack
/// (Q8_K for Q4_K and Q6_K, Q8_0 for the blocks of 32), exact integer lanes per block, one multiply-add per block into a
/// row's eight float accumulators, and <c>hsum_float_8</c> at the end of the row. A row is computed the same way in a
/// decoded token and in a prompt block, whichever thread takes it, so the bits never depend on either.
/// </summary>
internal static class BlockEmitter
{
    private const string K = "BlockKernels";

    /// <summary>A type the kernels multiply: its ggml name, its kernel suffix, its block (values and bytes), and whether its input is Q8_K.</summary>
    private sealed record BlockType(string Ggml, string Suffix, int Values, int Bytes, bool KQuant);

    private static readonly BlockType[] Types =
    [
        new("Q4_K", "Q4K", 256, 144, true),
        new("Q6_K", "Q6K", 256, 210, true),
        new("Q5_0", "Q5_0", 32, 22, false),
        new("Q4_0", "Q4_0", 32, 18, false),
        new("Q8_0", "Q8_0", 32, 34, false),
    ];

    /// <summary>The types a row of <paramref name="n"/> values can be held in: the K-quants only where it is whole blocks of 256.</summary>
    private static BlockType[] TypesFor(int n) => Array.FindAll(Types, t => n % t.Values == 0);

    /// <summary>The most tokens of a prompt whose quantised input one pass keeps on the stack (about a byte per value): at most 32 KiB and 32 tokens.</summary>
    public static int TokenChunk(int n) => Math.Max(1, Math.Min(32, 32768 / n));

    /// <summary>xout = W @ x over rows [rowStart, rowEnd): the dispatcher on W's type, then one kernel per type.</summary>
    /// <param name="rowsWritten">The row products already written (one per type and row length, shared by every shape of that length).</param>
    public static void EmitMatVec(SourceWriter w, int d, int n, HashSet<string> rowsWritten)
    {
        string name = KernelNames.MatVec(d, n);
        BlockType[] types = TypesFor(n);
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd): the kernel of W's block type (one switch per product).</summary>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int rowStart, int rowEnd)"))
            Dispatch(w, name, d, n, types, "xout, x, w.Data, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types)
        {
            EmitTypedMatVec(w, d, n, t, name + t.Suffix);
            if (rowsWritten.Add(RowName(n, t))) EmitRow(w, n, t);
        }
    }

    /// <summary>xout (tokens x d)[:, rowStart..rowEnd) = x @ Wᵀ: the dispatcher on W's type, then one kernel per type.</summary>
    public static void EmitMatMul(SourceWriter w, int d, int n, HashSet<string> rowsWritten)
    {
        string name = KernelNames.MatMul(d, n);
        BlockType[] types = TypesFor(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ: the kernel of W's block type (one switch per product).</summary>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int tokens, int rowStart, int rowEnd)"))
            Dispatch(w, name, d, n, types, "xout, x, w.Data, tokens, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types)
        {
            EmitTypedMatMul(w, d, n, t, name + t.Suffix);
            if (rowsWritten.Add(RowName(n, t))) EmitRow(w, n, t);
        }
    }

    private static string RowName(int n, BlockType t) => $"Row{t.Suffix}x{I(n)}";

    private static void Dispatch(SourceWriter w, string name, int d, int n, BlockType[] types, string arguments)
    {
        w.Line($"if (w.Rows != {I(d)} || w.Cols != {I(n)}) {Errors}.SpanTooShort(\"{name}\");");
        using (w.Block("switch (w.Type)"))
        {
            foreach (BlockType t in types)
                w.Line($"case GgmlType.{t.Ggml}: {name}{t.Suffix}({arguments}); break;");
            w.Line($"default: throw new NotSupportedException($\"{name}: a {{w.Type}} matrix has no kernel here.\");");
        }
    }

    /// <summary>Stack buffers for the quantised input of <paramref name="length"/> values, and the call that fills them from <paramref name="source"/>.</summary>
    private static void QuantisedInput(SourceWriter w, BlockType t, string length)
    {
        w.Line($"Span<sbyte> xq = stackalloc sbyte[{length}];");
        if (t.KQuant)
        {
            w.Line($"{Span} xs = stackalloc float[{length} / 256];");
            w.Line($"Span<short> xsum = stackalloc short[{length} / 16];");
        }
        else
        {
            w.Line($"{Span} xs = stackalloc float[{length} / 32];");
        }
    }

    private static string Quantize(BlockType t, string x, string q, string s, string sum) => t.KQuant
        ? $"{K}.QuantizeQ8K({x}, {q}, {s}, {sum});"
        : $"{K}.QuantizeQ8_0({x}, {q}, {s});";

    private static void InputRefs(SourceWriter w, BlockType t)
    {
        w.Line($"ref sbyte xqRef = ref {Marshal}.GetReference(xq);");
        w.Line($"ref float xsRef = ref {Marshal}.GetReference(xs);");
        if (t.Ggml == "Q4_K") w.Line($"ref short xsumRef = ref {Marshal}.GetReference(xsum);");
    }

    private static void Constants(SourceWriter w, int d, int n, BlockType t, bool blocks) =>
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)}, {(blocks ? $"Blocks = {I(n / t.Values)}, " : "")}RowBytes = {I(n / t.Values * t.Bytes)};");

    private static void EmitTypedMatVec(SourceWriter w, int d, int n, BlockType t, string name)
    {
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); W {t.Ggml} blocks, row-major (ggml's bytes). Rows are independent, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>The input is quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; each row is llama.cpp's ggml_vec_dot_{t.Ggml.ToLowerInvariant()}_{(t.KQuant ? "q8_K" : "q8_0")}, one row at a time.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, ReadOnlySpan<byte> w, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t, blocks: false);
            Guard(w, name, "xout.Length < Rows", "x.Length < Cols", "w.Length < Rows * RowBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "Cols");
            w.Line(Quantize(t, "x[..Cols]", "xq", "xs", "xsum"));
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetReference(w);");
            InputRefs(w, t);
            using (w.Block("for (int r = rowStart; r < rowEnd; r++)"))
                w.Line($"{Unsafe}.Add(ref xoutRef, r) = {RowName(n, t)}(ref wRef, (nuint)r * RowBytes, ref xqRef, ref xsRef{(t.Ggml == "Q4_K" ? ", ref xsumRef" : "")});");
        }
        w.Line();
    }

    /// <summary>
    /// One row times one token's quantised input, as llama.cpp's <c>ggml_vec_dot</c> of the type: shared by decoding and
    /// prompt blocks (same bits), inlined into both.
    /// </summary>
    private static void EmitRow(SourceWriter w, int n, BlockType t)
    {
        string name = RowName(n, t);
        w.Line($"/// <summary>W's row at byte wr ({I(n)} values in {t.Ggml}) · one token's quantised input: llama.cpp's ggml_vec_dot_{t.Ggml.ToLowerInvariant()}, lane for lane.</summary>");
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        string sums = t.Ggml == "Q4_K" ? ", ref short xsum" : "";
        using (w.Block($"private static float {name}(ref byte w, nuint wr, ref sbyte xq, ref float xs{sums})"))
        {
            w.Line($"const int Blocks = {I(n / t.Values)};");
            w.Line($"{VectorF} acc = {VectorF}.Zero;");
            switch (t.Ggml)
            {
                case "Q4_K":
                    w.Line("Vector128<float> mins = Vector128<float>.Zero;");
                    using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
                    {
                        w.Line("nuint wb = wr + b * 144;");
                        w.Line($"float dx = {Unsafe}.Add(ref xs, b);");
                        w.Line($"Vector128<byte> sm = {K}.Q4KScales(ref w, wb);");
                        w.Line("// acc += dx · d · lanes; mins += -dx · dmin · (minima · sums), llama.cpp's two accumulators");
                        w.Line($"acc = {Vector}.FusedMultiplyAdd({Vector}.Create(dx * {K}.Scale(ref w, wb)), {Vector}.ConvertToSingle({K}.Q4KLanes(ref w, wb, sm, ref xq, b * 256)), acc);");
                        w.Line($"mins = Vector128.FusedMultiplyAdd(Vector128.Create(-dx * {K}.Scale(ref w, wb + 2)), Vector128.ConvertToSingle({K}.Q4KMins(sm, ref xsum, b * 16)), mins);");
                    }
                    w.Line($"return {K}.Sum(acc) + {K}.Sum(mins);");
                    break;
                case "Q6_K":
                    using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
                    {
                        w.Line("nuint wb = wr + b * 210;");
                        w.Line($"acc = {Vector}.FusedMultiplyAdd({Vector}.Create({Unsafe}.Add(ref xs, b) * {K}.Scale(ref w, wb + 208)), {Vector}.ConvertToSingle({K}.Q6KLanes(ref w, wb, ref xq, b * 256)), acc);");
                    }
                    w.Line($"return {K}.Sum(acc);");
                    break;
                default:
                    using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
                    {
                        w.Line($"nuint wb = wr + b * {I(t.Bytes)};");
                        w.Line($"acc = {K}.Accumulate({K}.Lanes({K}.{t.Ggml}Weights(ref w, wb), ref xq, b * 32), {K}.Scale(ref w, wb) * {Unsafe}.Add(ref xs, b), acc);");
                    }
                    w.Line($"return {K}.Sum(acc);");
                    break;
            }
        }
        w.Line();
    }

    private static void EmitTypedMatMul(SourceWriter w, int d, int n, BlockType t, string name)
    {
        int chunk = TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W {t.Ggml} blocks, row-major (ggml's bytes).</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; each output is the same row product as decoding's (same bits). Rows outside, tokens inside, so a row is read from cache by every token of the chunk.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, ReadOnlySpan<byte> w, int tokens, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t, blocks: true);
            w.Line($"const int Chunk = {I(chunk)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Rows", "x.Length < tokens * Cols", "w.Length < Rows * RowBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "Chunk * Cols");
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetReference(w);");
            InputRefs(w, t);
            using (w.Block("for (int t0 = 0; t0 < tokens; t0 += Chunk)"))
            {
                w.Line("int count = Math.Min(Chunk, tokens - t0);");
                w.Line("for (int k = 0; k < count; k++)");
                string s = t.KQuant ? "xs.Slice(k * Blocks, Blocks)" : "xs.Slice(k * Blocks, Blocks)";
                w.Line("    " + Quantize(t, "x.Slice((t0 + k) * Cols, Cols)", "xq.Slice(k * Cols, Cols)", s, "xsum.Slice(k * Cols / 16, Cols / 16)"));
                using (w.Block("for (int r = rowStart; r < rowEnd; r++)"))
                {
                    w.Line("nuint wr = (nuint)r * RowBytes;");
                    using (w.Block("for (int k = 0; k < count; k++)"))
                    {
                        string sums = t.Ggml == "Q4_K" ? $", ref {Unsafe}.Add(ref xsumRef, k * Cols / 16)" : "";
                        w.Line($"{Unsafe}.Add(ref xoutRef, (t0 + k) * Rows + r) = {RowName(n, t)}(ref wRef, wr, ref {Unsafe}.Add(ref xqRef, k * Cols), ref {Unsafe}.Add(ref xsRef, k * Blocks){sums});");
                    }
                }
            }
        }
        w.Line();
    }
}
