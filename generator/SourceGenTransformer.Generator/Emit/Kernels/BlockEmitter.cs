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
            Dispatch(w, name, d, n, types, "xout, x, w, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types)
        {
            if (t.KQuant)
            {
                EmitPanelMatVec(w, d, n, t, name + t.Suffix);
                continue;
            }
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
            Dispatch(w, name, d, n, types, "xout, x, w, tokens, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types)
        {
            if (t.KQuant)
            {
                EmitPanelMatMul(w, d, n, t, name + t.Suffix);
                continue;
            }
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
        if (t.KQuant) w.Line($"ref short xsumRef = ref {Marshal}.GetReference(xsum);");
    }

    private static void Constants(SourceWriter w, int d, int n, BlockType t, bool blocks) =>
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)}, {(blocks ? $"Blocks = {I(n / t.Values)}, " : "")}RowBytes = {I(n / t.Values * t.Bytes)};");

    private static void EmitTypedMatVec(SourceWriter w, int d, int n, BlockType t, string name)
    {
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); W {t.Ggml} blocks, row-major (ggml's bytes). Rows are independent, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>The input is quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; each row is llama.cpp's ggml_vec_dot_{t.Ggml.ToLowerInvariant()}_{(t.KQuant ? "q8_K" : "q8_0")}, one row at a time.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t, blocks: false);
            Guard(w, name, "xout.Length < Rows", "x.Length < Cols", "w.Data.Length < Rows * RowBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "Cols");
            w.Line(Quantize(t, "x[..Cols]", "xq", "xs", "xsum"));
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
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
            using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
            {
                w.Line($"nuint wb = wr + b * {I(t.Bytes)};");
                w.Line($"acc = {K}.Accumulate({K}.Lanes({K}.{t.Ggml}Weights(ref w, wb), ref xq, b * 32), {K}.Scale(ref w, wb) * {Unsafe}.Add(ref xs, b), acc);");
            }
            w.Line($"return {K}.Sum(acc);");
        }
        w.Line();
    }

    private static void EmitTypedMatMul(SourceWriter w, int d, int n, BlockType t, string name)
    {
        int chunk = TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W {t.Ggml} blocks, row-major (ggml's bytes).</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; each output is the same row product as decoding's (same bits). Rows outside, tokens inside, so a row is read from cache by every token of the chunk.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int tokens, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t, blocks: true);
            w.Line($"const int Chunk = {I(chunk)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Rows", "x.Length < tokens * Cols", "w.Data.Length < Rows * RowBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "Chunk * Cols");
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
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

    // ---------------------------------------------------------------- Q4_K and Q6_K in panels of eight rows

    /// <summary>Tokens of a K-quant prompt tile: eight rows by four tokens (their int32 lanes and a float accumulator each); leftovers one at a time.</summary>
    private const int PanelTileTokens = 4;

    /// <summary>Bytes of one panel's super-block (BlockMatrix.Q4KPanelBlockBytes, Q6KPanelBlockBytes).</summary>
    private static int PanelBlockBytes(BlockType t) => t.Ggml == "Q4_K" ? 1184 : 1680;

    private static void PanelConstants(SourceWriter w, int d, int n, BlockType t) =>
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)}, Blocks = {I(n / 256)}, PanelRowCount = {I(d - d % 8)}, PanelBytes = {I(n / 256 * PanelBlockBytes(t))};");

    /// <summary>The loops over rows r from rowStart: rows alone before a whole panel, whole panels of eight, then the rest alone.</summary>
    private static void PanelRows(SourceWriter w, Action row, Action panel)
    {
        w.Line("int r = rowStart;");
        using (w.Block("for (; r < rowEnd && (r & 7) != 0 && r < PanelRowCount; r++)")) row();
        using (w.Block("for (; r + 8 <= rowEnd && r + 8 <= PanelRowCount; r += 8)")) panel();
        using (w.Block("for (; r < rowEnd; r++)")) row();
    }

    private static string RowKernel(BlockType t) => t.Ggml == "Q4_K" ? "Q4KRow" : "Q6KRow";

    private static void EmitPanelMatVec(SourceWriter w, int d, int n, BlockType t, string name)
    {
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); W {t.Ggml} in panels of eight rows (BlockMatrix). Rows are independent, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>The input is quantised to Q8_K on the stack; each panel is an outer product in integers (four columns of eight rows by the input's four codes per vpdpbusd), its rows in the lanes; rows outside whole panels take BlockKernels.{RowKernel(t)}, their lane's arithmetic.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int rowStart, int rowEnd)"))
        {
            PanelConstants(w, d, n, t);
            Guard(w, name, "xout.Length < Rows", "x.Length < Cols", "w.PanelRowCount != PanelRowCount", "w.Data.Length < PanelRowCount / 8 * PanelBytes", "rowStart < 0", "rowEnd > Rows");
            w.Line("Span<sbyte> xq = stackalloc sbyte[Cols];");
            w.Line($"{Span} xs = stackalloc float[Blocks];");
            w.Line("Span<short> xsum = stackalloc short[Cols / 16];");
            w.Line($"{K}.QuantizeQ8K(x[..Cols], xq, xs, xsum);");
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
            InputRefs(w, t);
            PanelRows(w, () => w.Line($"{Unsafe}.Add(ref xoutRef, r) = {K}.{RowKernel(t)}(w, r, xq, xs, xsum);"), () => PanelTile(w, t, 1, vector: true));
        }
        w.Line();
    }

    private static void EmitPanelMatMul(SourceWriter w, int d, int n, BlockType t, string name)
    {
        int chunk = TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W {t.Ggml} in panels of eight rows (BlockMatrix).</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to Q8_K on the stack; over them, a panel of eight rows by {I(PanelTileTokens)} tokens per pass (then one): each four columns' codes are unpacked once for the tile's tokens. Every output is decoding's arithmetic (same bits).</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int tokens, int rowStart, int rowEnd)"))
        {
            PanelConstants(w, d, n, t);
            w.Line($"const int Out = Rows, Chunk = {I(chunk)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Rows", "x.Length < tokens * Cols", "w.PanelRowCount != PanelRowCount", "w.Data.Length < PanelRowCount / 8 * PanelBytes", "rowStart < 0", "rowEnd > Rows");
            w.Line("Span<sbyte> xq = stackalloc sbyte[Chunk * Cols];");
            w.Line($"{Span} xs = stackalloc float[Chunk * Blocks];");
            w.Line("Span<short> xsum = stackalloc short[Chunk * Cols / 16];");
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
            InputRefs(w, t);
            using (w.Block("for (int t0 = 0; t0 < tokens; t0 += Chunk)"))
            {
                w.Line("int count = Math.Min(Chunk, tokens - t0);");
                w.Line("for (int k = 0; k < count; k++)");
                w.Line($"    {K}.QuantizeQ8K(x.Slice((t0 + k) * Cols, Cols), xq.Slice(k * Cols, Cols), xs.Slice(k * Blocks, Blocks), xsum.Slice(k * Cols / 16, Cols / 16));");
                PanelRows(w,
                    () =>
                    {
                        w.Line("for (int t = 0; t < count; t++)");
                        w.Line($"    {Unsafe}.Add(ref xoutRef, (t0 + t) * Out + r) = {K}.{RowKernel(t)}(w, r, xq.Slice(t * Cols, Cols), xs.Slice(t * Blocks, Blocks), xsum.Slice(t * Cols / 16, Cols / 16));");
                    },
                    () =>
                    {
                        w.Line("int t = 0;");
                        using (w.Block($"for (; t + {I(PanelTileTokens)} <= count; t += {I(PanelTileTokens)})")) PanelTile(w, t, PanelTileTokens, vector: false);
                        using (w.Block("for (; t < count; t++)")) PanelTile(w, t, 1, vector: false);
                    });
            }
        }
        w.Line();
    }

    /// <summary>
    /// The panel of eight rows from r by tokens t.. (of the chunk from t0; for a <paramref name="vector"/>, x itself),
    /// every row in its own int32 and float lane: per super-block, per four columns, the eight rows' codes unpacked once
    /// and one vpdpbusd per token by its four codes broadcast; each sub-block's lanes times the rows' scales (vpmulld)
    /// into the block's exact sumi; then fused multiply-adds scale it into the token's float lanes. Q4_K:
    /// acc += sumi · (d · dx) and acc += summ · (dmin · -dx), summ being the rows' minima times the sub-blocks' input sums.
    /// Q6_K: the codes are biased by 32, taken off per sub-block as 32 times its input sum; acc += sumi · (d · dx).
    /// </summary>
    private static void PanelTile(SourceWriter w, BlockType t, int tokens, bool vector)
    {
        bool q4 = t.Ggml == "Q4_K";
        w.Line("nuint pw = (nuint)(r / 8) * PanelBytes; // the panel's first byte");
        for (int k = 0; k < tokens; k++)
        {
            w.Line(vector ? $"const nuint xo{k} = 0, so{k} = 0, bo{k} = 0;" : $"nuint xo{k} = (nuint)(t + {I(k)}) * Cols, so{k} = (nuint)(t + {I(k)}) * (Cols / 16), bo{k} = (nuint)(t + {I(k)}) * Blocks;");
            w.Line($"{VectorF} a{k} = {VectorF}.Zero;");
        }
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
        {
            w.Line($"nuint pb = pw + b * {I(PanelBlockBytes(t))};");
            for (int k = 0; k < tokens; k++)
                w.Line(q4 ? $"Vector256<int> s{k} = Vector256<int>.Zero, m{k} = Vector256<int>.Zero;" : $"Vector256<int> s{k} = Vector256<int>.Zero;");
            if (q4)
            {
                using (w.Block("for (nuint j = 0; j < 8; j++)"))
                {
                    w.Line("// Sub-block j: columns 32j.. of the super-block, 128 bytes of nibbles.");
                    w.Line("nuint pj = pb + 160 + j * 128, xj = b * 256 + j * 32;");
                    for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> l{k} = Vector256<int>.Zero;");
                    for (int c = 0; c < 4; c++)
                    {
                        w.Line($"Vector256<byte> v{c} = {Vector}.LoadUnsafe(ref wRef, pj + {I(32 * c)});");
                        w.Line($"Vector256<byte> lo{c} = v{c} & {Vector}.Create((byte)0x0F), hi{c} = {Vector}.ShiftRightLogical(v{c}.AsUInt16(), 4).AsByte() & {Vector}.Create((byte)0x0F);");
                        for (int k = 0; k < tokens; k++)
                            w.Line($"l{k} = {K}.Dot4({K}.Dot4(l{k}, lo{c}, {K}.Broadcast4(ref xqRef, xo{k} + xj + {I(4 * c)})), hi{c}, {K}.Broadcast4(ref xqRef, xo{k} + xj + {I(16 + 4 * c)}));");
                    }
                    w.Line($"Vector256<int> sc = {K}.Widen8(ref wRef, pb + 32 + j * 8), mn = {K}.Widen8(ref wRef, pb + 96 + j * 8);");
                    for (int k = 0; k < tokens; k++)
                    {
                        w.Line($"s{k} += l{k} * sc;");
                        w.Line($"m{k} += mn * {Vector}.Create({Unsafe}.Add(ref xsumRef, so{k} + b * 16 + 2 * j) + {Unsafe}.Add(ref xsumRef, so{k} + b * 16 + 2 * j + 1));");
                    }
                }
                w.Line($"{VectorF} dd = IntegerBlocks.Scales8(ref {Unsafe}.As<byte, Half>(ref {Unsafe}.Add(ref wRef, pb)), 0), dm = IntegerBlocks.Scales8(ref {Unsafe}.As<byte, Half>(ref {Unsafe}.Add(ref wRef, pb + 16)), 0);");
            }
            else
            {
                using (w.Block("for (nuint h = 0; h < 8; h++)"))
                {
                    w.Line("// Columns 32h.. of the super-block: sub-blocks 2h (the low nibbles' columns) and 2h + 1 (the high ones'), 192 bytes.");
                    w.Line("nuint ph = pb + 144 + h * 192, xh = b * 256 + h * 32;");
                    w.Line($"Vector256<byte> top0 = {Vector}.LoadUnsafe(ref wRef, ph + 128), top1 = {Vector}.LoadUnsafe(ref wRef, ph + 160);");
                    for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> la{k} = Vector256<int>.Zero, lb{k} = Vector256<int>.Zero;");
                    for (int c = 0; c < 4; c++)
                    {
                        w.Line($"Vector256<byte> v{c} = {Vector}.LoadUnsafe(ref wRef, ph + {I(32 * c)});");
                        w.Line($"Vector256<byte> lo{c} = {K}.Q6KCodes(v{c}, false, top0, {I(c)}), hi{c} = {K}.Q6KCodes(v{c}, true, top1, {I(c)});");
                        for (int k = 0; k < tokens; k++)
                        {
                            w.Line($"la{k} = {K}.Dot4(la{k}, lo{c}, {K}.Broadcast4(ref xqRef, xo{k} + xh + {I(4 * c)}));");
                            w.Line($"lb{k} = {K}.Dot4(lb{k}, hi{c}, {K}.Broadcast4(ref xqRef, xo{k} + xh + {I(16 + 4 * c)}));");
                        }
                    }
                    w.Line($"Vector256<int> sa = {K}.Widen8Signed(ref wRef, pb + 16 + h * 16), sb = {K}.Widen8Signed(ref wRef, pb + 24 + h * 16);");
                    for (int k = 0; k < tokens; k++)
                    {
                        w.Line($"nuint sj{k} = so{k} + b * 16 + 2 * h;");
                        w.Line($"s{k} += (la{k} - {Vector}.Create(32 * {Unsafe}.Add(ref xsumRef, sj{k}))) * sa + (lb{k} - {Vector}.Create(32 * {Unsafe}.Add(ref xsumRef, sj{k} + 1))) * sb;");
                    }
                }
                w.Line($"{VectorF} dd = IntegerBlocks.Scales8(ref {Unsafe}.As<byte, Half>(ref {Unsafe}.Add(ref wRef, pb)), 0);");
            }
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"float dx{k} = {Unsafe}.Add(ref xsRef, bo{k} + b);");
                w.Line($"a{k} = {Vector}.FusedMultiplyAdd({Vector}.ConvertToSingle(s{k}), dd * {Vector}.Create(dx{k}), a{k});");
                if (q4) w.Line($"a{k} = {Vector}.FusedMultiplyAdd({Vector}.ConvertToSingle(m{k}), dm * {Vector}.Create(-dx{k}), a{k});");
            }
        }
        for (int k = 0; k < tokens; k++)
        {
            string at = vector ? "r" : $"(t0 + t{(k == 0 ? "" : " + " + I(k))}) * Out + r";
            w.Line($"a{k}.StoreUnsafe(ref xoutRef, (nuint)({at}));");
        }
    }
}
