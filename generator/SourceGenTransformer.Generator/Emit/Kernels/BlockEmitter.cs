using System;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels of <c>BlockMatrix</c> products (<c>WeightPrecision.Q4_0</c> and <c>Q4K</c>): each matrix carries its
/// own ggml block type, so each product shape gets one kernel per type it can hold and a dispatcher that switches on the
/// matrix's type once per call. Every type is in panels of eight rows and multiplies as an integer outer product
/// (<c>BlockKernels</c>): the input quantised on the stack (Q8_K for Q4_K and Q6_K, Q8_0 for the blocks of 32), four
/// columns of eight rows by the input's four codes per <c>vpdpbusd</c>, the rows in the int32 lanes, scales and biases
/// applied per block in integers, and one or two fused multiply-adds per block into each row's float32 lane. Prompts
/// take tiles of a panel by four tokens, each four columns' codes unpacked once for the four; the blocks of 32 take two
/// panels at a time, each broadcast input feeding both (a vector load per vpdpbusd bounded the one-panel tile: Zen 4
/// issues two vector loads a cycle, as many as vpdpbusd), and widen a tile's float16 scales once for all its tokens.
/// A row is computed the same way in a decoded token and in a prompt block, whichever thread takes it, so the bits never depend on either.
/// </summary>
internal static class BlockEmitter
{
    private const string K = "BlockKernels";

    /// <summary>A type the kernels multiply: its ggml name, kernel suffix, block (values), and panel block bytes (BlockMatrix.PanelBlockBytes).</summary>
    private sealed record BlockType(string Ggml, string Suffix, int Values, int PanelBytes)
    {
        /// <summary>Whether its input is Q8_K (the super-blocks of 256), else Q8_0.</summary>
        public bool KQuant => Values == 256;

        /// <summary>The float16 scale vectors of eight rows per block: Q4_K's d and dmin, the others' d.</summary>
        public int ScaleVectors => Ggml == "Q4_K" ? 2 : 1;
    }

    private static readonly BlockType[] Types =
    [
        new("Q4_K", "Q4K", 256, 1184),
        new("Q6_K", "Q6K", 256, 1680),
        new("Q5_0", "Q5_0", 32, 176),
        new("Q4_0", "Q4_0", 32, 144),
        new("Q8_0", "Q8_0", 32, 272),
    ];

    /// <summary>
    /// The types a matrix of rows of <paramref name="n"/> values can hold: Q4_0 models' are all Q4_0; Q4K models' any of
    /// the five, the K-quants only where a row is whole blocks of 256.
    /// </summary>
    private static BlockType[] TypesFor(ModelShape s, int n) => Array.FindAll(Types, t => n % t.Values == 0 && (s.Precision == Precision.Q4K || t.Ggml == "Q4_0"));

    /// <summary>
    /// The tokens of a prompt whose quantised input one pass keeps on the stack (a byte and a little more per value): at
    /// most about 48 KiB and 32 tokens, a whole number of tiles (at least one), so no chunk leaves tokens to the
    /// one-token pass that a whole tile could take (Qwen2.5-0.5B's down projection, rows of 4864: eight tokens, not six).
    /// </summary>
    public static int TokenChunk(int n) => Math.Max(TileTokens, Math.Min(32, 49152 / n) / TileTokens * TileTokens);

    /// <summary>Tokens of a prompt tile: eight rows by four tokens (their int32 lanes and a float accumulator each); leftovers one at a time.</summary>
    private const int TileTokens = 4;

    /// <summary>
    /// How far ahead of its reads a decoded token's panel asks for its weights: bytes. Without it one core streamed a
    /// Q4_0 matrix from memory at 24-32 GB/s, with it at 28-41 (Qwen2.5-0.5B's up projection); 2 KiB was slower than none.
    /// </summary>
    private const int DecodeAhead = 8192;

    /// <summary>xout = W @ x over rows [rowStart, rowEnd): the dispatcher on W's type, then one kernel per type.</summary>
    public static void EmitMatVec(SourceWriter w, ModelShape s, int d, int n)
    {
        string name = KernelNames.MatVec(d, n);
        BlockType[] types = TypesFor(s, n);
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd): the kernel of W's block type (one switch per product).</summary>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int rowStart, int rowEnd)"))
            Dispatch(w, name, d, n, types, "xout, x, w, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types) EmitTypedMatVec(w, d, n, t, name + t.Suffix);
    }

    /// <summary>xout (tokens x d)[:, rowStart..rowEnd) = x @ Wᵀ: the dispatcher on W's type, then one kernel per type.</summary>
    public static void EmitMatMul(SourceWriter w, ModelShape s, int d, int n)
    {
        string name = KernelNames.MatMul(d, n);
        BlockType[] types = TypesFor(s, n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ: the kernel of W's block type (one switch per product).</summary>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int tokens, int rowStart, int rowEnd)"))
            Dispatch(w, name, d, n, types, "xout, x, w, tokens, rowStart, rowEnd");
        w.Line();
        foreach (BlockType t in types) EmitTypedMatMul(w, d, n, t, name + t.Suffix);
    }

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

    private static void Constants(SourceWriter w, int d, int n, BlockType t) =>
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)}, Blocks = {I(n / t.Values)}, PanelRowCount = {I(d - d % 8)}, PanelBytes = {I(n / t.Values * t.PanelBytes)};");

    /// <summary>
    /// Stack buffers for <paramref name="tokens"/> tokens' quantised input: codes, a scale per block, and xsum: Q8_K's
    /// code sums per 16, or for the blocks of 32 each block's offset, -bias · Σ codes, where its lanes start.
    /// </summary>
    private static void QuantisedInput(SourceWriter w, BlockType t, string tokens)
    {
        string times = tokens == "1" ? "" : tokens + " * ";
        w.Line($"Span<sbyte> xq = stackalloc sbyte[{times}Cols];");
        w.Line($"{Span} xs = stackalloc float[{times}Blocks];");
        w.Line(t.KQuant ? $"Span<short> xsum = stackalloc short[{times}Cols / 16];" : $"Span<int> xsum = stackalloc int[{times}Blocks];");
        w.Line($"ref sbyte xqRef = ref {Marshal}.GetReference(xq);");
        w.Line($"ref float xsRef = ref {Marshal}.GetReference(xs);");
        w.Line($"ref {(t.KQuant ? "short" : "int")} xsumRef = ref {Marshal}.GetReference(xsum);");
    }

    /// <summary>The call that quantises one token's input <paramref name="x"/> into the buffers, or (<paramref name="k"/>) the k-th place of them.</summary>
    private static string Quantize(BlockType t, string x, string? k)
    {
        string bias = t.KQuant ? "" : $", BlockMatrix.Block32Offset(GgmlType.{t.Ggml})";
        string method = t.KQuant ? "QuantizeQ8K" : "QuantizeQ8_0";
        if (k is null) return $"{K}.{method}({x}, xq, xs, xsum{bias});";
        string sums = t.KQuant ? $"xsum.Slice({k} * Cols / 16, Cols / 16)" : $"xsum.Slice({k} * Blocks, Blocks)";
        return $"{K}.{method}({x}, xq.Slice({k} * Cols, Cols), xs.Slice({k} * Blocks, Blocks), {sums}{bias});";
    }

    /// <summary>
    /// The unpacked codes of 32 bytes <paramref name="v"/> as lo (group c) and hi (group c + 4): the low and high nibbles,
    /// with Q5_0's fifth bits (<paramref name="fifth"/>) joined where there are any.
    /// </summary>
    private static string Codes(string v, string lo, string hi, string? fifth, int c) => fifth is not null
        ? $"Vector256<byte> {lo} = {K}.Q5Codes({v}, false, {fifth}, {I(c)}), {hi} = {K}.Q5Codes({v}, true, {fifth}, {I(c)});"
        : $"Vector256<byte> {lo} = {v} & {Vector}.Create((byte)0x0F), {hi} = {Vector}.ShiftRightLogical({v}.AsUInt16(), 4).AsByte() & {Vector}.Create((byte)0x0F);";

    /// <summary>The per-row kernel of the type (its lane's arithmetic), for rows outside whole panels.</summary>
    private static string RowKernel(BlockType t) => t.Ggml switch { "Q4_K" => "Q4KRow", "Q6_K" => "Q6KRow", _ => "Block32Row" };

    /// <summary>The loops over rows r from rowStart: rows alone before a whole panel, whole panels of eight, then the rest alone.</summary>
    private static void Rows(SourceWriter w, Action row, Action panel, Action? pair = null)
    {
        w.Line("int r = rowStart;");
        using (w.Block("for (; r < rowEnd && (r & 7) != 0 && r < PanelRowCount; r++)")) row();
        if (pair is not null) using (w.Block("for (; r + 16 <= rowEnd && r + 16 <= PanelRowCount; r += 16)")) pair();
        using (w.Block("for (; r + 8 <= rowEnd && r + 8 <= PanelRowCount; r += 8)")) panel();
        using (w.Block("for (; r < rowEnd; r++)")) row();
    }

    private static void EmitTypedMatVec(SourceWriter w, int d, int n, BlockType t, string name)
    {
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); W {t.Ggml} in panels of eight rows (BlockMatrix). Rows are independent, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>The input is quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; each panel is an outer product in integers (four columns of eight rows by the input's four codes per vpdpbusd), its rows in the lanes; rows outside whole panels take BlockKernels.{RowKernel(t)}, their lane's arithmetic.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t);
            Guard(w, name, "xout.Length < Rows", "x.Length < Cols", "w.PanelRowCount != PanelRowCount", "w.Data.Length < PanelRowCount / 8 * PanelBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "1");
            w.Line(Quantize(t, "x[..Cols]", null));
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
            Rows(w, () => w.Line($"{Unsafe}.Add(ref xoutRef, r) = {K}.{RowKernel(t)}(w, r, xq, xs, xsum);"), () => Tile(w, t, 1, vector: true));
        }
        w.Line();
    }

    private static void EmitTypedMatMul(SourceWriter w, int d, int n, BlockType t, string name)
    {
        int chunk = TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W {t.Ggml} in panels of eight rows (BlockMatrix).</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to {(t.KQuant ? "Q8_K" : "Q8_0")} on the stack; over them, a panel of eight rows by {I(TileTokens)} tokens per pass (then one): each four columns' codes are unpacked once for the tile's tokens. Every output is decoding's arithmetic (same bits).</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, BlockMatrix w, int tokens, int rowStart, int rowEnd)"))
        {
            Constants(w, d, n, t);
            w.Line($"const int Out = Rows, Chunk = {I(chunk)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Rows", "x.Length < tokens * Cols", "w.PanelRowCount != PanelRowCount", "w.Data.Length < PanelRowCount / 8 * PanelBytes", "rowStart < 0", "rowEnd > Rows");
            QuantisedInput(w, t, "Chunk");
            w.Line($"{Span} ws = stackalloc float[Blocks * {I(16 * t.ScaleVectors)}]; // a tile's panels' scales (one or two), widened once for all its tokens");
            w.Line($"ref float wsRef = ref {Marshal}.GetReference(ws);");
            Refs(w, "xout");
            w.Line($"ref byte wRef = ref {Marshal}.GetArrayDataReference(w.Data);");
            string sums = t.KQuant ? "xsum.Slice(t * Cols / 16, Cols / 16)" : "xsum.Slice(t * Blocks, Blocks)";
            using (w.Block("for (int t0 = 0; t0 < tokens; t0 += Chunk)"))
            {
                w.Line("int count = Math.Min(Chunk, tokens - t0);");
                w.Line("for (int k = 0; k < count; k++)");
                w.Line("    " + Quantize(t, "x.Slice((t0 + k) * Cols, Cols)", "k"));
                Rows(w,
                    () =>
                    {
                        w.Line("for (int t = 0; t < count; t++)");
                        w.Line($"    {Unsafe}.Add(ref xoutRef, (t0 + t) * Out + r) = {K}.{RowKernel(t)}(w, r, xq.Slice(t * Cols, Cols), xs.Slice(t * Blocks, Blocks), {sums});");
                    },
                    () =>
                    {
                        WidenScales(w, t, 1);
                        w.Line("int t = 0;");
                        using (w.Block($"for (; t + {I(TileTokens)} <= count; t += {I(TileTokens)})")) Tile(w, t, TileTokens, vector: false);
                        using (w.Block("for (; t < count; t++)")) Tile(w, t, 1, vector: false);
                    },
                    t.KQuant ? null : () =>
                    {
                        WidenScales(w, t, 2);
                        w.Line("int t = 0;");
                        using (w.Block($"for (; t + {I(TileTokens)} <= count; t += {I(TileTokens)})")) PairTile32(w, t, TileTokens);
                        using (w.Block("for (; t < count; t++)")) PairTile32(w, t, 1);
                    });
            }
        }
        w.Line();
    }

    /// <summary>The scales of the <paramref name="panels"/> panels from r, widened into ws: vector v of block b of panel p at ((p · Blocks + b) · vectors + v) · 8.</summary>
    private static void WidenScales(SourceWriter w, BlockType t, int panels)
    {
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
            for (int p = 0; p < panels; p++)
            {
                w.Line($"nuint pb{p} = (nuint)(r / 8 + {I(p)}) * PanelBytes + b * {I(t.PanelBytes)};");
                for (int v = 0; v < t.ScaleVectors; v++)
                    w.Line($"{ScaleConversion($"pb{p} + {I(16 * v)}")}.StoreUnsafe(ref wsRef, ({I(p)} * Blocks + b) * {I(t.ScaleVectors * 8)} + {I(v * 8)});");
            }
    }

    /// <summary>
    /// Two panels (sixteen rows from r) of a block-of-32 type by tokens t..: each token's four codes broadcast once for
    /// both panels (a vector load feeds two vpdpbusd, not one, which is what bounds the one-panel tile), one chain per
    /// panel and token. Each lane's integers and float32 steps are the one-panel tile's, so the bits are too.
    /// </summary>
    private static void PairTile32(SourceWriter w, BlockType t, int tokens)
    {
        w.Line("nuint pw = (nuint)(r / 8) * PanelBytes; // the first panel's first byte; the second follows");
        for (int k = 0; k < tokens; k++)
        {
            w.Line($"nuint xo{k} = (nuint)(t + {I(k)}) * Cols, bo{k} = (nuint)(t + {I(k)}) * Blocks;");
            w.Line($"{VectorF} a{k}p0 = {VectorF}.Zero, a{k}p1 = {VectorF}.Zero;");
        }
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
        {
            w.Line($"nuint pb = pw + b * {I(t.PanelBytes)}, xb = b * 32;");
            for (int k = 0; k < tokens; k++)
                w.Line($"Vector256<int> s{k}p0 = {Vector}.Create({Unsafe}.Add(ref xsumRef, bo{k} + b)), s{k}p1 = s{k}p0;");
            void Dots(string code0, string code1, int at)
            {
                for (int k = 0; k < tokens; k++)
                {
                    w.Line($"{{ Vector256<sbyte> xk = {K}.Broadcast4(ref xqRef, xo{k} + xb + {I(at)});");
                    w.Line($"  s{k}p0 = {K}.Dot4(s{k}p0, {code0}, xk); s{k}p1 = {K}.Dot4(s{k}p1, {code1}, xk); }}");
                }
            }
            if (t.Ggml == "Q8_0")
            {
                for (int g = 0; g < 8; g++)
                {
                    w.Line($"Vector256<byte> v{g}p0 = {Vector}.LoadUnsafe(ref wRef, pb + {I(16 + 32 * g)}), v{g}p1 = {Vector}.LoadUnsafe(ref wRef, pb + PanelBytes + {I(16 + 32 * g)});");
                    Dots($"v{g}p0", $"v{g}p1", 4 * g);
                }
            }
            else
            {
                if (t.Ggml == "Q5_0") w.Line($"Vector256<byte> fifth0 = {Vector}.LoadUnsafe(ref wRef, pb + 144), fifth1 = {Vector}.LoadUnsafe(ref wRef, pb + PanelBytes + 144);");
                for (int c = 0; c < 4; c++)
                {
                    for (int p = 0; p < 2; p++)
                    {
                        string at = p == 0 ? $"pb + {I(16 + 32 * c)}" : $"pb + PanelBytes + {I(16 + 32 * c)}";
                        w.Line($"Vector256<byte> v{c}p{p} = {Vector}.LoadUnsafe(ref wRef, {at});");
                        w.Line(Codes($"v{c}p{p}", $"lo{c}p{p}", $"hi{c}p{p}", t.Ggml == "Q5_0" ? $"fifth{p}" : null, c));
                    }
                    Dots($"lo{c}p0", $"lo{c}p1", 4 * c);
                    Dots($"hi{c}p0", $"hi{c}p1", 16 + 4 * c);
                }
            }
            w.Line($"{VectorF} dd0 = {Vector}.LoadUnsafe(ref wsRef, b * 8), dd1 = {Vector}.LoadUnsafe(ref wsRef, (Blocks + b) * 8);");
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"{VectorF} dx{k} = {Vector}.Create({Unsafe}.Add(ref xsRef, bo{k} + b));");
                for (int p = 0; p < 2; p++)
                    w.Line($"a{k}p{p} = {Vector}.FusedMultiplyAdd({Vector}.ConvertToSingle(s{k}p{p}), dd{p} * dx{k}, a{k}p{p});");
            }
        }
        for (int k = 0; k < tokens; k++)
            for (int p = 0; p < 2; p++)
                w.Line($"a{k}p{p}.StoreUnsafe(ref xoutRef, (nuint)((t0 + t{(k == 0 ? "" : " + " + I(k))}) * Out + r + {I(8 * p)}));");
    }

    /// <summary>
    /// The panel of eight rows from r by tokens t.. (of the chunk from t0; for a <paramref name="vector"/>, x itself),
    /// every row in its own int32 and float lane: per block, per four columns, the eight rows' codes unpacked once and one
    /// vpdpbusd per token by its four codes broadcast. Q4_K: each sub-block's lanes times the rows' scales (vpmulld) into
    /// sumi, the rows' minima times the sub-block's input sum into summ, then acc += sumi · (d · dx) and
    /// acc += summ · (dmin · -dx). Q6_K: codes biased by 32, taken off per sub-block of 16 as 32 times its input sum, times
    /// the rows' int8 scales into sumi; acc += sumi · (d · dx). Q8_0, Q4_0, Q5_0: the block's lanes start at minus the
    /// code bias (128, 8, 16) times the block's input sum (xsum, as quantised); acc += lanes · (d · dx).
    /// </summary>
    private static void Tile(SourceWriter w, BlockType t, int tokens, bool vector)
    {
        w.Line("nuint pw = (nuint)(r / 8) * PanelBytes; // the panel's first byte");
        for (int k = 0; k < tokens; k++)
        {
            string sums = t.KQuant ? "(Cols / 16)" : "Blocks";
            string so = t.KQuant ? (vector ? $", so{k} = 0" : $", so{k} = (nuint)(t + {I(k)}) * {sums}") : ""; // the K-quants' sums per 16
            w.Line(vector ? $"const nuint xo{k} = 0{so}, bo{k} = 0;" : $"nuint xo{k} = (nuint)(t + {I(k)}) * Cols{so}, bo{k} = (nuint)(t + {I(k)}) * Blocks;");
            w.Line($"{VectorF} a{k} = {VectorF}.Zero;");
        }
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
        {
            w.Line($"nuint pb = pw + b * {I(t.PanelBytes)};");
            // Two lines per block of 32 (of its 2.25 to 4.25); the K-quants' tiles, with more work per byte, gained nothing from it.
            if (vector && !t.KQuant) w.Line($"IntegerBlocks.Prefetch(ref wRef, pb + {I(DecodeAhead)});");
            switch (t.Ggml)
            {
                case "Q4_K": Q4KBlock(w, tokens, vector); break;
                case "Q6_K": Q6KBlock(w, tokens, vector); break;
                default: Block32(w, t, tokens, vector); break;
            }
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"float dx{k} = {Unsafe}.Add(ref xsRef, bo{k} + b);");
                w.Line($"a{k} = {Vector}.FusedMultiplyAdd({Vector}.ConvertToSingle(s{k}), dd * {Vector}.Create(dx{k}), a{k});");
                if (t.Ggml == "Q4_K") w.Line($"a{k} = {Vector}.FusedMultiplyAdd({Vector}.ConvertToSingle(m{k}), dm * {Vector}.Create(-dx{k}), a{k});");
            }
        }
        for (int k = 0; k < tokens; k++)
        {
            string at = vector ? "r" : $"(t0 + t{(k == 0 ? "" : " + " + I(k))}) * Out + r";
            w.Line($"a{k}.StoreUnsafe(ref xoutRef, (nuint)({at}));");
        }
    }

    private static string Dot(string acc, string codes, string k, string at) =>
        $"{acc} = {K}.Dot4({acc}, {codes}, {K}.Broadcast4(ref xqRef, xo{k} + {at}));";

    /// <summary>The eight rows' float16 scales at <paramref name="at"/>, widened.</summary>
    private static string ScaleConversion(string at) =>
        $"IntegerBlocks.Scales8(ref {Unsafe}.As<byte, Half>(ref {Unsafe}.Add(ref wRef, {at})), 0)";

    /// <summary>
    /// The block's scale vector <paramref name="v"/> (at <paramref name="at"/> in the panel) as <paramref name="name"/>:
    /// widened here in a decoded token (each panel is read once), else loaded from the panel's widened scales.
    /// </summary>
    private static string Scales(string name, string at, int v, int vectors, bool vector) => vector
        ? $"{VectorF} {name} = {ScaleConversion(at)};"
        : $"{VectorF} {name} = {Vector}.LoadUnsafe(ref wsRef, (b * {I(vectors)} + {I(v)}) * 8);";

    /// <summary>A Q4_K super-block: eight sub-blocks of 32 columns, 128 bytes of nibbles each.</summary>
    private static void Q4KBlock(SourceWriter w, int tokens, bool vector)
    {
        for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> s{k} = Vector256<int>.Zero, m{k} = Vector256<int>.Zero;");
        using (w.Block("for (nuint j = 0; j < 8; j++)"))
        {
            w.Line("nuint pj = pb + 160 + j * 128, xj = b * 256 + j * 32;");
            for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> l{k} = Vector256<int>.Zero;");
            for (int c = 0; c < 4; c++)
            {
                w.Line($"Vector256<byte> v{c} = {Vector}.LoadUnsafe(ref wRef, pj + {I(32 * c)});");
                w.Line(Codes($"v{c}", $"lo{c}", $"hi{c}", null, c));
                for (int k = 0; k < tokens; k++)
                {
                    w.Line(Dot($"l{k}", $"lo{c}", I(k), $"xj + {I(4 * c)}"));
                    w.Line(Dot($"l{k}", $"hi{c}", I(k), $"xj + {I(16 + 4 * c)}"));
                }
            }
            w.Line($"Vector256<int> sc = {K}.Widen8(ref wRef, pb + 32 + j * 8), mn = {K}.Widen8(ref wRef, pb + 96 + j * 8);");
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"s{k} += l{k} * sc;");
                w.Line($"m{k} += mn * {Vector}.Create({Unsafe}.Add(ref xsumRef, so{k} + b * 16 + 2 * j) + {Unsafe}.Add(ref xsumRef, so{k} + b * 16 + 2 * j + 1));");
            }
        }
        w.Line(Scales("dd", "pb", 0, 2, vector));
        w.Line(Scales("dm", "pb + 16", 1, 2, vector));
    }

    /// <summary>A Q6_K super-block: per 32 columns, sub-blocks 2h (the low nibbles' columns) and 2h + 1 (the high ones').</summary>
    private static void Q6KBlock(SourceWriter w, int tokens, bool vector)
    {
        for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> s{k} = Vector256<int>.Zero;");
        using (w.Block("for (nuint h = 0; h < 8; h++)"))
        {
            w.Line("nuint ph = pb + 144 + h * 192, xh = b * 256 + h * 32;");
            w.Line($"Vector256<byte> top0 = {Vector}.LoadUnsafe(ref wRef, ph + 128), top1 = {Vector}.LoadUnsafe(ref wRef, ph + 160);");
            for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> la{k} = Vector256<int>.Zero, lb{k} = Vector256<int>.Zero;");
            for (int c = 0; c < 4; c++)
            {
                w.Line($"Vector256<byte> v{c} = {Vector}.LoadUnsafe(ref wRef, ph + {I(32 * c)});");
                w.Line($"Vector256<byte> lo{c} = {K}.Q6KCodes(v{c}, false, top0, {I(c)}), hi{c} = {K}.Q6KCodes(v{c}, true, top1, {I(c)});");
                for (int k = 0; k < tokens; k++)
                {
                    w.Line(Dot($"la{k}", $"lo{c}", I(k), $"xh + {I(4 * c)}"));
                    w.Line(Dot($"lb{k}", $"hi{c}", I(k), $"xh + {I(16 + 4 * c)}"));
                }
            }
            w.Line($"Vector256<int> sa = {K}.Widen8Signed(ref wRef, pb + 16 + h * 16), sb = {K}.Widen8Signed(ref wRef, pb + 24 + h * 16);");
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"nuint sj{k} = so{k} + b * 16 + 2 * h;");
                w.Line($"s{k} += (la{k} - {Vector}.Create(32 * {Unsafe}.Add(ref xsumRef, sj{k}))) * sa + (lb{k} - {Vector}.Create(32 * {Unsafe}.Add(ref xsumRef, sj{k} + 1))) * sb;");
            }
        }
        w.Line(Scales("dd", "pb", 0, 1, vector));
    }

    /// <summary>
    /// A block of 32 of Q8_0 (eight groups of four columns), Q4_0 or Q5_0 (four times 32 bytes of nibbles, Q5_0's fifth
    /// bits after them). Each token's products go to two accumulators in turn (two chains of vpdpbusd, not one: the
    /// prompt tile measured 10% faster), summed at the end of the block.
    /// </summary>
    private static void Block32(SourceWriter w, BlockType t, int tokens, bool vector)
    {
        w.Line("nuint xb = b * 32;");
        for (int k = 0; k < tokens; k++) w.Line($"Vector256<int> s{k} = {Vector}.Create({Unsafe}.Add(ref xsumRef, bo{k} + b)), u{k} = Vector256<int>.Zero;");
        if (t.Ggml == "Q8_0")
        {
            for (int g = 0; g < 8; g++)
            {
                w.Line($"Vector256<byte> v{g} = {Vector}.LoadUnsafe(ref wRef, pb + {I(16 + 32 * g)});");
                for (int k = 0; k < tokens; k++) w.Line(Dot(g % 2 == 0 ? $"s{k}" : $"u{k}", $"v{g}", I(k), $"xb + {I(4 * g)}"));
            }
        }
        else
        {
            if (t.Ggml == "Q5_0") w.Line($"Vector256<byte> fifth = {Vector}.LoadUnsafe(ref wRef, pb + 144);");
            for (int c = 0; c < 4; c++)
            {
                w.Line($"Vector256<byte> v{c} = {Vector}.LoadUnsafe(ref wRef, pb + {I(16 + 32 * c)});");
                w.Line(Codes($"v{c}", $"lo{c}", $"hi{c}", t.Ggml == "Q5_0" ? "fifth" : null, c));
                for (int k = 0; k < tokens; k++)
                {
                    w.Line(Dot($"s{k}", $"lo{c}", I(k), $"xb + {I(4 * c)}"));
                    w.Line(Dot($"u{k}", $"hi{c}", I(k), $"xb + {I(16 + 4 * c)}"));
                }
            }
        }
        for (int k = 0; k < tokens; k++) w.Line($"s{k} += u{k};");
        w.Line(Scales("dd", "pb", 0, 1, vector));
    }
}
