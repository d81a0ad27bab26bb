using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels over matrices stored in panels of 32 rows, column by column (<c>WeightPacking.ToPanels</c>): weight
/// (r, c) at <c>r / 32 * 32 * cols + c * 32 + r % 32</c>, so panel p starts at <c>p * cols</c> for its first row p.
/// </summary>
/// <remarks>
/// <para>Both products are outer products: a column of a panel (32 weights, two 512-bit or four 256-bit vectors) is
/// multiplied by one input value broadcast to every lane and added into accumulators that each hold 16 (or 8)
/// finished outputs. Nothing is summed across lanes, and the panel is read front to back as one stream.</para>
/// <para>The matrix-matrix product keeps a register tile of 32 rows by 12 tokens (24 accumulators of 512 bits; the
/// compiler keeps all of them, both weight vectors and the broadcast in the 32 registers AVX-512 has): per column,
/// 2 weight loads and 12 broadcasts feed 24 FMAs. Without 512-bit vectors (16 registers on AVX2) the tile is 16 rows
/// by 6 tokens, twice per panel. Leftover tokens take tiles of 4 and 2 (512-bit), or 4 and 2 (256-bit), then 1: a one-token
/// tile is two FMA chains, bound by FMA latency, so a short sequence (a sentence of 17 tokens leaves 5) runs its
/// leftovers at several tokens a pass. Where the input's rows are a multiple
/// of 4 KiB apart, the product first copies up to 48 tokens to rows 16 floats longer (<see cref="PadsInput"/>).</para>
/// <para>Every output is one chain over the columns in order in the matrix-matrix tiles, and two chains (even and odd
/// columns) summed at the end in the matrix-vector kernel, whatever the split across threads and whichever vector width
/// runs: results depend neither on the thread count nor on whether 512-bit vectors are accelerated.</para>
/// </remarks>
internal static class PanelEmitter
{
    /// <summary>The token counts of the matrix-matrix tiles, widest first, for vectors of 16 and of 8 lanes.</summary>
    private static readonly int[] Tiles16 = [12, 4, 2, 1], Tiles8 = [6, 4, 2, 1];

    private static string TileName(int d, int n, int lanes, int tokens) => $"{KernelNames.MatMul(d, n)}Tile{I(lanes)}x{I(tokens)}";

    /// <summary>Tokens a padded-input product copies at a time (<see cref="PadsInput"/>): 4 tiles of 12, 8 of 6.</summary>
    private const int PadChunk = 48;

    /// <summary>
    /// Whether a matrix-matrix product over <paramref name="n"/> columns copies its input to rows of n + 16 floats before
    /// the tiles read it. A tile reads 12 token rows side by side; rows a multiple of 4 KiB apart (n = 1024, 2048, ...)
    /// all fall in one set of the 8-way L1 data cache, which then evicts lines before their 16 floats are used (the
    /// 768 x 2048 product ran 11% slower than the 2048 x 768 one). 16 floats more per row put each row in its own set.
    /// </summary>
    public static bool PadsInput(int n)
    {
        var perSet = new int[64];
        int most = 0;
        for (int t = 0; t < 12; t++)
            most = System.Math.Max(most, ++perSet[(int)((long)t * n * 4 / 64 % 64)]);
        return most > 8;
    }

    /// <summary>The per-thread buffer of padded input rows, for the shapes that pad (<see cref="PadsInput"/>).</summary>
    public static void EmitPaddedInput(SourceWriter w)
    {
        w.Line("[ThreadStatic] private static float[]? t_paddedInput;");
        w.Line();
        w.Line($"/// <summary>This thread's buffer for up to {I(PadChunk)} padded input rows of <paramref name=\"stride\"/> floats: made on the thread's first use, then kept.</summary>");
        using (w.Block("private static float[] PaddedInput(int stride)"))
        {
            w.Line("float[]? buffer = t_paddedInput;");
            w.Line($"if (buffer is null || buffer.Length < {I(PadChunk)} * stride) t_paddedInput = buffer = new float[{I(PadChunk)} * stride];");
            w.Line("return buffer;");
        }
        w.Line();
    }

    private static void PanelGuard(SourceWriter w, string kernel) =>
        w.Line($"if (rowStart % 32 != 0 || rowEnd % 32 != 0) {Errors}.RowsNotPanels(\"{kernel}\", rowStart, rowEnd, 32);");

    /// <summary>
    /// The matrix-vector kernel over panels (its every-row overload comes from <see cref="EmitMatVec"/>). Per column,
    /// the panel's 32 weights times x[column] broadcast; even and odd columns in two chains summed at the end, on
    /// either vector width, so both give the same bits.
    /// </summary>
    public static void EmitMatVec(SourceWriter w, int d, int n, string name)
    {
        using (MatVecEmitter.Head(w, d, n, Precision.Float32, 0, name,
            "Per column, the panel's 32 weights times x[column] broadcast, into 2 (or 4) accumulators of finished outputs; even and odd columns in separate chains, summed at the end, on either vector width: the same bits. rowStart and rowEnd fall on panels.",
            "W in panels of 32 rows, column by column. Panels are independent"))
        {
            PanelGuard(w, name);
            using (w.Block($"if ({Vector512}.IsHardwareAccelerated)"))
                PanelMatVecBody(w, n, 16);
            using (w.Block("else"))
                PanelMatVecBody(w, n, 8);
        }
    }

    private static void PanelMatVecBody(SourceWriter w, int n, int lanes)
    {
        string vec = lanes == 16 ? Vector512 : Vector;
        string vt = vec + "<float>";
        int vectors = 32 / lanes;
        int pairEnd = n - n % 2;
        using (w.Block("for (int p = rowStart; p < rowEnd; p += 32)"))
        {
            w.Line($"ref float panel = ref {Unsafe}.Add(ref wRef, (nint)p * Cols);");
            var acc = new List<string>();
            for (int c = 0; c < 2; c++)
                for (int v = 0; v < vectors; v++) acc.Add($"a{c}{v} = {vt}.Zero");
            w.Line($"{vt} {string.Join(", ", acc)};");
            void Column(int chain, string k)
            {
                w.Line($"s = {vec}.Create({Unsafe}.Add(ref xRef, {k}));");
                for (int v = 0; v < vectors; v++)
                    w.Line($"a{chain}{v} = {vec}.FusedMultiplyAdd({vec}.LoadUnsafe(ref panel, {Plus($"(nuint)({k}) * 32", v * lanes)}), s, a{chain}{v});");
            }
            w.Line($"{vt} s;");
            if (pairEnd > 0)
            {
                using (w.Block($"for (nuint k = 0; k < {I(pairEnd)}; k += 2)"))
                {
                    Column(0, "k");
                    Column(1, "k + 1");
                }
            }
            if (pairEnd != n)
            {
                w.Line($"// The last column: {I(n)} is odd.");
                Column(0, I(pairEnd));
            }
            for (int v = 0; v < vectors; v++)
                w.Line($"{vec}.StoreUnsafe(a0{v} + a1{v}, ref xoutRef, {Plus("(nuint)p", v * lanes)});");
        }
    }

    /// <summary>The batched (prompt) product over panels, and its register tiles as separate methods.</summary>
    /// <param name="bias">Whether the kernel adds a bias to every output row (encoders' projections).</param>
    public static void EmitMatMul(SourceWriter w, int d, int n, bool bias)
    {
        string name = KernelNames.MatMul(d, n);
        foreach (int tokens in Tiles16) EmitPanelTile(w, d, n, 16, tokens, bias);
        foreach (int tokens in Tiles8) EmitPanelTile(w, d, n, 8, tokens, bias);
        string plus = bias ? " + bias" : "";
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ{plus}, for those rows of W; W in panels of 32 rows, x and xout row-major.</summary>");
        w.Line("/// <remarks>Panels outside, tokens inside: a panel is reused from cache by every tile of tokens. Tiles of 32 rows by 12 tokens");
        w.Line("/// with 512-bit vectors, 16 rows by 6 tokens without. rowStart and rowEnd fall on panels.</remarks>");
        string biasParameter = bias ? $"{ReadOnlySpan} bias, " : "";
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {ReadOnlySpan} w, {biasParameter}int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)};");
            var guards = new List<string> { "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "rowStart < 0", "rowEnd > Out" };
            if (bias) guards.Add("bias.Length < Out");
            Guard(w, name, guards.ToArray());
            PanelGuard(w, name);
            var refs = new List<string> { "xout" };
            if (!PadsInput(n)) refs.Add("x"); // else the tiles read the padded copy
            refs.Add("w");
            if (bias) refs.Add("bias");
            Refs(w, refs.ToArray());
            bool pad = PadsInput(n);
            string xs = pad ? "XStride" : "In", count = pad ? "count" : "tokens", from = pad ? "paddedRef" : "xRef";
            void Loops(int lanes, int[] tiles, string half)
            {
                w.Line("int t = 0;");
                foreach (int tokens in tiles)
                {
                    string loop = tokens == 1 ? $"for (; t < {count}; t++)" : $"for (; t + {I(tokens)} <= {count}; t += {I(tokens)})";
                    w.Line(loop);
                    string biasArgument = bias ? $", ref {Unsafe}.Add(ref biasRef, {(half == "0" ? "p" : "p + " + half)})" : "";
                    string outRow = pad ? "(nint)(c + t) * Out" : "(nint)t * Out";
                    string panelAt = half == "0" ? "ref panel" : $"ref {Unsafe}.Add(ref panel, {half})", rowAt = half == "0" ? "p" : "p + " + half;
                    w.Line($"    {TileName(d, n, lanes, tokens)}({panelAt}, ref {Unsafe}.Add(ref {from}, (nint)t * {xs}), ref {Unsafe}.Add(ref xoutRef, {outRow} + {rowAt}){biasArgument});");
                }
            }
            void Panels()
            {
                using (w.Block($"if ({Vector512}.IsHardwareAccelerated)"))
                using (w.Block("for (int p = rowStart; p < rowEnd; p += 32)"))
                {
                    w.Line($"ref float panel = ref {Unsafe}.Add(ref wRef, (nint)p * In);");
                    Loops(16, Tiles16, "0");
                }
                using (w.Block("else"))
                using (w.Block("for (int p = rowStart; p < rowEnd; p += 32)"))
                {
                    w.Line($"ref float panel = ref {Unsafe}.Add(ref wRef, (nint)p * In);");
                    using (w.Block("for (int half = 0; half < 32; half += 16)"))
                        Loops(8, Tiles8, "half");
                }
            }
            if (!pad)
            {
                Panels();
            }
            else
            {
                w.Line($"// Rows {I(n * 4)} bytes apart share one L1 set: copy up to {I(PadChunk)} tokens at a time to rows of In + 16 floats.");
                w.Line("const int XStride = In + 16;");
                w.Line("float[] padded = PaddedInput(XStride);");
                w.Line($"ref float paddedRef = ref {Marshal}.GetArrayDataReference(padded);");
                using (w.Block($"for (int c = 0; c < tokens; c += {I(PadChunk)})"))
                {
                    w.Line($"int count = Math.Min({I(PadChunk)}, tokens - c);");
                    w.Line("for (int t = 0; t < count; t++)");
                    w.Line($"    x.Slice((c + t) * In, In).CopyTo(new {Span}(padded, t * XStride, In));");
                    Panels();
                }
            }
        }
        w.Line();
    }

    /// <summary>
    /// One register tile: y[t, 0..2·lanes) = Σ_k panel[k, 0..2·lanes) · x[t, k] for <paramref name="tokens"/> tokens,
    /// the panel's columns 32 floats apart, x's tokens In apart (In + 16 where the input is padded), y's tokens Out apart.
    /// </summary>
    private static void EmitPanelTile(SourceWriter w, int d, int n, int lanes, int tokens, bool bias)
    {
        string xs = PadsInput(n) ? "(In + 16)" : "In"; // how far apart x's tokens are
        string vec = lanes == 16 ? Vector512 : Vector;
        string vt = vec + "<float>";
        string cref = bias
            ? "(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)"
            : "(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)";
        w.Line($"/// <summary>A tile of {I(2 * lanes)} panel rows by {I(tokens)} token(s) of <see cref=\"{KernelNames.MatMul(d, n)}{cref}\"/>{(bias ? ", the bias added to each finished sum" : "")}.</summary>");
        using (w.Block($"private static void {TileName(d, n, lanes, tokens)}(ref float panel, ref float x, ref float y{(bias ? ", ref float b" : "")})"))
        {
            w.Line(tokens > 1 ? $"const int Out = {I(d)}, In = {I(n)};" : $"const int In = {I(n)};"); // one token stores at y's start
            var acc = new List<string>();
            for (int t = 0; t < tokens; t++) acc.Add($"a{I(t)}_0 = {vt}.Zero, a{I(t)}_1 = {vt}.Zero");
            w.Line($"{vt} {string.Join(", ", acc)};");
            using (w.Block("for (nuint k = 0; k < In; k++)"))
            {
                w.Line($"{vt} w0 = {vec}.LoadUnsafe(ref panel, k * 32), w1 = {vec}.LoadUnsafe(ref panel, k * 32 + {I(lanes)});");
                w.Line($"{vt} s;");
                for (int t = 0; t < tokens; t++)
                {
                    w.Line($"s = {vec}.Create({Unsafe}.Add(ref x, k{(t == 0 ? "" : $" + {I(t)} * {xs}")}));");
                    w.Line($"a{I(t)}_0 = {vec}.FusedMultiplyAdd(w0, s, a{I(t)}_0); a{I(t)}_1 = {vec}.FusedMultiplyAdd(w1, s, a{I(t)}_1);");
                }
            }
            if (bias) w.Line($"{vt} b0 = {vec}.LoadUnsafe(ref b), b1 = {vec}.LoadUnsafe(ref b, {I(lanes)});");
            string b0 = bias ? " + b0" : "", b1 = bias ? " + b1" : "";
            for (int t = 0; t < tokens; t++)
                w.Line($"{vec}.StoreUnsafe(a{I(t)}_0{b0}, ref y, {Times(t, "Out")}); {vec}.StoreUnsafe(a{I(t)}_1{b1}, ref y, {Plus(Times(t, "Out"), lanes)});");
        }
        w.Line();
    }
}
