using System;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels of Int8 (Q8_0) matrices, which multiply in integers as llama.cpp does: the input is quantised to 8 bits
/// per block of 32 on the stack (<c>IntegerBlocks.QuantizeInOrder</c>: ggml's Q8_0, widened to int16), and exact integer
/// block sums are converted to float32 and scaled by the product of the two blocks' scales.
/// </summary>
/// <remarks>
/// <para>Panels of sixteen rows in which each pair of columns holds the sixteen rows' two weights side by side, so one
/// <c>vpmaddwd</c> of the widened weights by a broadcast input pair adds two products to each of the rows' lanes (sixteen
/// on Vector512, eight on Vector256): an outer product in integers, whose lanes are the rows' exact block totals after a
/// block's 16 pairs, with no horizontal sums (the sign trick of <c>vpmaddubsw</c> needs <c>vpsignb</c>, which reaches
/// only 16 registers, and horizontal adds per block measured at half the float32 kernel's rate; on Vector512 the same
/// tile runs about 1.3x the Vector256 one here, fewer instructions for the same double-pumped work).</para>
/// <para>Rows past the last whole panel stay row-major. Every output is one chain over its blocks in order, in a panel,
/// an edge row on its own, a decoded token and a prompt block alike: any split of the rows (any thread count) gives the
/// same bits, and a prompt block's products equal decoding's.</para>
/// </remarks>
internal static class IntegerEmitter
{
    private const string Blocks = "IntegerBlocks";

    /// <summary>How far ahead of its reads an Int8 panel asks for its weights: bytes.</summary>
    private const int Int8Ahead = 2048;

    /// <summary>
    /// Tokens of an Int8 prompt tile: sixteen rows by eight tokens on Vector512 (16 accumulators: 8 integer, 8 float), by
    /// four on Vector256 (the same sixteen rows in two halves: 16 accumulators too).
    /// </summary>
    private static int Int8TileTokens(bool wide) => wide ? 8 : 4;

    /// <summary>The tokens of an Int8 prompt whose quantised input (int16 values and a scale per block) one pass keeps on the stack: at most about 64 KiB and 32 tokens, whole tiles.</summary>
    public static int Int8TokenChunk(int n) => Math.Max(8, Math.Min(32, 30840 / n) / 8 * 8);

    /// <summary>xout = W @ x over rows [rowStart, rowEnd) for an Int8 matrix: a panel of sixteen rows at a time, edge rows one by one.</summary>
    public static void EmitInt8MatVec(SourceWriter w, int d, int n, string name)
    {
        using (MatVecEmitter.Head(w, d, n, Precision.Int8, 32, name,
            "The input is quantised to Q8_0 blocks on the stack (int16), then each panel of sixteen rows multiplies it in integers, a pair of columns for all sixteen rows per vpmaddwd (two on Vector256); rows outside whole panels take IntegerBlocks.Int8Row, the same arithmetic.",
            "W int8 blocks of 32 (one scale per block) in panels of sixteen rows. Rows are independent"))
        {
            Int8Constants(w, d, n);
            w.Line("Span<short> xq = stackalloc short[Cols];");
            w.Line($"{Span} xs = stackalloc float[Blocks];");
            w.Line($"{Blocks}.QuantizeInOrder(x[..Cols], xq, xs);");
            Int8InputRefs(w);
            Int8Rows(w,
                () => w.Line($"{Unsafe}.Add(ref xoutRef, r) = {Blocks}.Int8Row(w, scales, r, Cols, PanelRows, xq, xs);"),
                () =>
                {
                    using (w.Block($"if ({Vector512}.IsHardwareAccelerated)")) Int8Tile(w, n, 1, vector: true, wide: true);
                    using (w.Block("else")) Int8Tile(w, n, 1, vector: true, wide: false);
                });
        }
        w.Line();
    }

    private static void Int8Constants(SourceWriter w, int d, int n) =>
        w.Line($"const int Blocks = {I(n / 32)}, PanelRows = {I(d - d % 16)};");

    /// <summary>xout (tokens x d)[:, rowStart..rowEnd) = x @ Wᵀ for an Int8 matrix: tiles of a panel of sixteen rows by eight tokens (Vector512; four on Vector256).</summary>
    public static void EmitInt8MatMul(SourceWriter w, int d, int n)
    {
        string name = KernelNames.MatMul(d, n);
        int chunk = Int8TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W int8 blocks in panels of sixteen rows.</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to Q8_0 blocks (int16) on the stack; over them, a panel of sixteen rows by {I(Int8TileTokens(true))} tokens per pass on Vector512");
        w.Line($"/// ({I(Int8TileTokens(false))} on Vector256), then 4, then 1: each pair of columns is widened once for all the tile's tokens. Rows outside, tokens inside.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {MatrixParameters(Precision.Int8)}, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)}, Chunk = {I(chunk)};");
            Int8Constants(w, d, n);
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "scales.Length < Out * Blocks", "rowStart < 0", "rowEnd > Out");
            w.Line("Span<short> xq = stackalloc short[Chunk * In];");
            w.Line($"{Span} xs = stackalloc float[Chunk * Blocks];");
            Refs(w, "xout");
            WeightRefs(w, Precision.Int8);
            Int8InputRefs(w);
            using (w.Block("for (int t0 = 0; t0 < tokens; t0 += Chunk)"))
            {
                w.Line("int count = Math.Min(Chunk, tokens - t0);");
                w.Line("for (int k = 0; k < count; k++)");
                w.Line($"    {Blocks}.QuantizeInOrder(x.Slice((t0 + k) * In, In), xq.Slice(k * In, In), xs.Slice(k * Blocks, Blocks));");
                void Tokens(bool wide)
                {
                    int tile = Int8TileTokens(wide);
                    w.Line("int t = 0;");
                    using (w.Block($"for (; t + {I(tile)} <= count; t += {I(tile)})")) Int8Tile(w, n, tile, vector: false, wide);
                    if (tile > 4) using (w.Block("for (; t + 4 <= count; t += 4)")) Int8Tile(w, n, 4, vector: false, wide);
                    using (w.Block("for (; t < count; t++)")) Int8Tile(w, n, 1, vector: false, wide);
                }
                Int8Rows(w,
                    () =>
                    {
                        w.Line("for (int t = 0; t < count; t++)");
                        w.Line($"    {Unsafe}.Add(ref xoutRef, (t0 + t) * Out + r) = {Blocks}.Int8Row(w, scales, r, In, PanelRows, xq.Slice(t * In, In), xs.Slice(t * Blocks, Blocks));");
                    },
                    () =>
                    {
                        using (w.Block($"if ({Vector512}.IsHardwareAccelerated)")) Tokens(wide: true);
                        using (w.Block("else")) Tokens(wide: false);
                    });
            }
        }
        w.Line();
    }

    private static void Int8InputRefs(SourceWriter w)
    {
        w.Line($"ref short xqRef = ref {Marshal}.GetReference(xq);");
        w.Line($"ref float xsRef = ref {Marshal}.GetReference(xs);");
    }

    /// <summary>The loops over rows r from rowStart: edge rows before a panel of sixteen, whole panels, then the rest one by one.</summary>
    private static void Int8Rows(SourceWriter w, Action row, Action panel)
    {
        w.Line("int r = rowStart;");
        using (w.Block("for (; r < rowEnd && (r & 15) != 0 && r < PanelRows; r++)")) row();
        using (w.Block("for (; r + 16 <= rowEnd && r + 16 <= PanelRows; r += 16)")) panel();
        using (w.Block("for (; r < rowEnd; r++)")) row();
    }

    /// <summary>
    /// The panel of sixteen rows from r by tokens t.. (of the chunk from t0; for a <paramref name="vector"/>, x itself). Per
    /// block, each token's integer lanes (one per row: one Vector512, or two Vector256 halves) gather the 16 pairs'
    /// <c>vpmaddwd</c>s; then one conversion and one multiply-add by the rows' scales times the token's block scale add
    /// them to the token's float lanes. Both widths compute every lane alike, so they give the same bits.
    /// </summary>
    private static void Int8Tile(SourceWriter w, int n, int tokens, bool vector, bool wide)
    {
        string vf = wide ? $"{Vector512}<float>" : VectorF, vec = wide ? Vector512 : Vector;
        string vi = wide ? "Vector512<int>" : "Vector256<int>";
        string[] halves = wide ? [""] : ["", "h"];
        w.Line($"nuint wb = (nuint)r * {I(n)}, sb = (nuint)r * Blocks; // the panel's first byte and scale");
        for (int k = 0; k < tokens; k++)
        {
            w.Line(vector ? $"const nuint xo{k} = 0, so{k} = 0;" : $"nuint xo{k} = (nuint)(t + {I(k)}) * In, so{k} = (nuint)(t + {I(k)}) * Blocks;");
            foreach (string h in halves) w.Line($"{vf} f{h}{k} = {vf}.Zero;");
        }
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
        {
            w.Line("nuint wo = wb + b * 512, xb = b * 32;");
            for (int line = 0; line < 512; line += 128)
                w.Line($"{Blocks}.Prefetch(ref {Unsafe}.As<sbyte, byte>(ref wRef), wo + {I(Int8Ahead + line)});");
            for (int i = 0; i < 16; i++)
            {
                foreach (string h in halves)
                {
                    string load = wide ? $"{Blocks}.WidenPairs16(ref wRef, wo + {I(32 * i)})" : $"{Blocks}.WidenPairs(ref wRef, wo + {I(32 * i + (h == "" ? 0 : 16))})";
                    w.Line($"{(i == 0 ? (wide ? "Vector512<short> " : "Vector256<short> ") : "")}wp{h} = {load};");
                }
                for (int k = 0; k < tokens; k++)
                {
                    foreach (string h in halves)
                    {
                        string product = $"{Blocks}.MultiplyPairs(wp{h}, ref xqRef, xo{k} + xb + {I(2 * i)})";
                        w.Line(i == 0 ? $"{vi} c{h}{k} = {product};" : $"c{h}{k} += {product};");
                    }
                }
            }
            foreach (string h in halves)
                w.Line($"{vf} ws{h} = {Blocks}.{(wide ? "Scales16" : "Scales8")}(ref scalesRef, sb + b * 16{(h == "" ? "" : " + 8")});");
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"float y{k} = {Unsafe}.Add(ref xsRef, so{k} + b);");
                foreach (string h in halves)
                    w.Line($"f{h}{k} = {vec}.FusedMultiplyAdd({vec}.ConvertToSingle(c{h}{k}), ws{h} * {vec}.Create(y{k}), f{h}{k});");
            }
        }
        for (int k = 0; k < tokens; k++)
        {
            string at = vector ? "r" : $"(t0 + t{(k == 0 ? "" : " + " + I(k))}) * Out + r";
            foreach (string h in halves)
                w.Line($"f{h}{k}.StoreUnsafe(ref xoutRef, (nuint)({at}){(h == "" ? "" : " + 8")});");
        }
    }
}
