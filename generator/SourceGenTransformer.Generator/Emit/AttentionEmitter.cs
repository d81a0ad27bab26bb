using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.ModelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes one attention head, the step every attention in every family shares: scores of a query against a set of
/// key positions, a numerically stable softmax, and the weighted sum of the values. Callers say only where the
/// query, keys, values and output live and which key positions count (causal, unmasked, or the whole source).
/// Many queries at once (prompt blocks, encoders) go through <see cref="EmitQueries"/> instead: keys transposed and
/// values gathered once per head, then every query of a group against one L1-sized block of them at a time.
/// </summary>
internal static class AttentionEmitter
{
    /// <param name="w">The writer, inside a loop over heads h, with a constant Scale in scope.</param>
    /// <param name="s">The model's shape (for the head dimension).</param>
    /// <param name="query">Expression for this head's query (HeadDim).</param>
    /// <param name="scores">Expression for a span of <paramref name="count"/> floats to hold the weights.</param>
    /// <param name="count">Expression for how many key positions are attended.</param>
    /// <param name="keyAt">Expression, in the loop variable <c>i</c>, for the i-th key's offset into <paramref name="keys"/>.</param>
    /// <param name="keys">The array holding the keys.</param>
    /// <param name="valueAt">Expression, in <c>i</c>, for the i-th value's offset into <paramref name="values"/>.</param>
    /// <param name="values">The array holding the values.</param>
    /// <param name="output">Expression for this head's output span (HeadDim), overwritten.</param>
    public static void EmitHead(SourceWriter w, ModelShape s, string query, string scores, string count,
        string keyAt, string keys, string valueAt, string values, string output)
    {
        string hd = I(s.HeadDim);
        w.Line($"{ReadOnlySpan} qh = {query};");
        w.Line($"{Span} weights = {scores};");
        w.Line($"// weights[i] = q ({hd}) · k_i ({hd}) / sqrt({hd}), then softmax over the attended positions");
        int vectors = s.HeadDim / 8;
        bool registers = InRegisters(s);
        if (registers)
        {
            // The query stays in registers across the positions; two FMA chains per position, fully unrolled.
            w.Line($"if (qh.Length < HeadDim) global::SourceGenTransformer.Runtime.TransformerErrors.SpanTooShort(\"attention query\");");
            w.Line($"ref float qRef = ref {Marshal}.GetReference(qh);");
            var q = new List<string>();
            for (int v = 0; v < vectors; v++) q.Add($"q{I(v)} = {Vector}.LoadUnsafe(ref qRef, {I(8 * v)})");
            w.Line($"{VectorF} {string.Join(", ", q)};");
            using (w.Block($"for (int i = 0; i < {count}; i++)"))
            {
                w.Line($"ref float ki = ref {Marshal}.GetReference(new {ReadOnlySpan}({keys}, {keyAt}, HeadDim));");
                for (int v = 0; v < vectors; v++)
                {
                    string chain = v % 2 == 0 ? "c0" : "c1";
                    string load = $"{Vector}.LoadUnsafe(ref ki, {I(8 * v)})";
                    w.Line(v < 2 ? $"{VectorF} {chain} = q{I(v)} * {load};" : $"{chain} = {Vector}.FusedMultiplyAdd(q{I(v)}, {load}, {chain});");
                }
                w.Line($"weights[i] = {Vector}.Sum({(vectors > 1 ? "c0 + c1" : "c0")}) * Scale;");
            }
        }
        else
        {
            w.Line($"for (int i = 0; i < {count}; i++)");
            w.Line($"    weights[i] = Kernels.{DotName(s.HeadDim)}(qh, new {ReadOnlySpan}({keys}, {keyAt}, HeadDim)) * Scale;");
        }
        w.Line("Kernels.Softmax(weights);");
        w.Line($"// o ({hd}) = sum over i of weights[i] * v_i ({hd})");
        w.Line($"{Span} oh = {output};");
        if (!registers)
        {
            w.Line("oh.Clear();");
            w.Line($"for (int i = 0; i < {count}; i++)");
            w.Line($"    Kernels.{AxpyName(s.HeadDim)}(oh, weights[i], new {ReadOnlySpan}({values}, {valueAt}, HeadDim));");
            return;
        }
        // The output stays in registers across the positions (an Axpy per position would store it and load it back,
        // a chain through memory from one position to the next); each lane still sums the positions in order.
        var acc = new List<string>();
        for (int v = 0; v < vectors; v++) acc.Add($"o{I(v)} = {VectorF}.Zero");
        w.Line($"{VectorF} {string.Join(", ", acc)};");
        using (w.Block($"for (int i = 0; i < {count}; i++)"))
        {
            w.Line($"{VectorF} wi = {Vector}.Create(weights[i]);");
            w.Line($"ref float vi = ref {Marshal}.GetReference(new {ReadOnlySpan}({values}, {valueAt}, HeadDim));");
            for (int v = 0; v < vectors; v++)
                w.Line($"o{I(v)} = {Vector}.FusedMultiplyAdd({Vector}.LoadUnsafe(ref vi, {I(8 * v)}), wi, o{I(v)});");
        }
        w.Line("if (oh.Length < HeadDim) global::SourceGenTransformer.Runtime.TransformerErrors.SpanTooShort(\"attention output\");");
        w.Line($"ref float ohRef = ref {Marshal}.GetReference(oh);");
        for (int v = 0; v < vectors; v++)
            w.Line($"{Vector}.StoreUnsafe(o{I(v)}, ref ohRef, {I(8 * v)});");
    }

    /// <summary>Queries that <see cref="EmitQueries"/> scores together: their score rows stay in a small buffer.</summary>
    public const int QueryGroup = 32;

    /// <summary>Floats a row of scores takes in <see cref="EmitQueries"/>: whole blocks of 64 keys.</summary>
    public const string ScoreRoom = "((MaxSequenceLength + 63) / 64 * 64)";

    /// <summary>Floats the score buffer of <see cref="EmitQueries"/> takes: a group of queries' rows.</summary>
    public static string ScoreBufferLength => $"({I(QueryGroup)} * {ScoreRoom})";

    /// <summary>Floats a transposed-keys buffer takes for up to MaxSequenceLength keys: whole blocks of 64 keys.</summary>
    public const string TransposedKeysLength = "((MaxSequenceLength + 63) / 64 * 64 * HeadDim)";

    /// <summary>Floats a gathered-values buffer takes: MaxSequenceLength rows of HeadDim.</summary>
    public const string GatheredValuesLength = "(MaxSequenceLength * HeadDim)";

    /// <summary>
    /// Writes the loop that lays a head's first <paramref name="count"/> keys out for <see cref="EmitQueries"/>: in blocks
    /// of 64 keys, each HeadDim rows of 64 (value d of key i at i / 64 * 64 * HeadDim + d * 64 + i % 64), and copies its
    /// values to consecutive rows (value i at i * HeadDim). Rows of the projections lie kilobytes apart, a stride at which
    /// many share an L1 set; the copies are read front to back, one 16 KiB block of keys at a time.
    /// </summary>
    /// <param name="kt">A span of <see cref="TransposedKeysLength"/> floats.</param>
    /// <param name="vg">A span of <see cref="GatheredValuesLength"/> floats.</param>
    public static void EmitLayOutKeysAndValues(SourceWriter w, string kt, string vg, string count,
        string keyAt, string keys, string valueAt, string values)
    {
        count = $"({count})";
        w.Line($"{Span} transposed = {kt}, gathered = {vg};");
        w.Line($"if (transposed.Length < ({count} + 63) / 64 * 64 * HeadDim || gathered.Length < {count} * HeadDim) global::SourceGenTransformer.Runtime.TransformerErrors.SpanTooShort(\"attention keys and values\");");
        w.Line($"ref float transposedRef = ref {Marshal}.GetReference(transposed);");
        using (w.Block($"for (int i = 0; i < {count}; i++)"))
        {
            w.Line($"{ReadOnlySpan} key = new {ReadOnlySpan}({keys}, {keyAt}, HeadDim);");
            w.Line($"ref float column = ref {Unsafe}.Add(ref transposedRef, i / 64 * 64 * HeadDim + i % 64);");
            w.Line($"for (int d = 0; d < HeadDim; d++) {Unsafe}.Add(ref column, d * 64) = key[d];");
            w.Line($"new {ReadOnlySpan}({values}, {valueAt}, HeadDim).CopyTo(gathered.Slice(i * HeadDim, HeadDim));");
        }
    }

    /// <summary>
    /// Attention of one head for the queries t in [<paramref name="tStart"/>, <paramref name="tEnd"/>), over keys and
    /// values laid out by <see cref="EmitLayOutKeysAndValues"/>. Queries go in groups of <see cref="QueryGroup"/>, and each group walks the keys
    /// one block of 64 at a time (16 KiB of keys or values, read from L1 by every query of the group):
    /// scores are 8 vectors of 8 keys, each a chain of FMAs over d with q[d] broadcast (no sums across lanes); the weighted
    /// sum keeps a query's output in registers over a block (an Axpy per key for heads too wide for them,
    /// <see cref="InRegisters"/>) and in memory between blocks. Every lane sums its keys in order, so results depend
    /// neither on the grouping nor on the split across workers.
    /// </summary>
    /// <param name="queries">The array holding the queries; <paramref name="queryAt"/> is query t's offset (in t).</param>
    /// <param name="count">Keys query t attends (in t): the first count(t) laid out; never more than were laid out.</param>
    /// <param name="output">The array for the outputs; <paramref name="outputAt"/> is query t's offset (in t).</param>
    /// <param name="scores">A span of <see cref="ScoreBufferLength"/> floats.</param>
    public static void EmitQueries(SourceWriter w, ModelShape s, string tStart, string tEnd, string queries, string queryAt,
        string count, string output, string outputAt, string kt, string vg, string scores)
    {
        int vectors = s.HeadDim / 8;
        count = $"({count})";
        w.Line($"{Span} keyBlocks = {kt}, valueRows = {vg}, scoreRows = {scores};");
        w.Line("if (scoreRows.Length < " + ScoreBufferLength + ") global::SourceGenTransformer.Runtime.TransformerErrors.SpanTooShort(\"attention scores\");");
        w.Line($"ref float ktRef = ref {Marshal}.GetReference(keyBlocks);");
        w.Line($"ref float vgRef = ref {Marshal}.GetReference(valueRows);");
        w.Line($"ref float rowsRef = ref {Marshal}.GetReference(scoreRows);");
        using (w.Block($"for (int g = {tStart}; g < {tEnd}; g += {I(QueryGroup)})"))
        {
            w.Line($"int ge = global::System.Math.Min(g + {I(QueryGroup)}, {tEnd}), most = 0;");
            using (w.Block("for (int t = g; t < ge; t++)"))
            {
                w.Line($"int keysOfT = {count};");
                w.Line("if (keysOfT > most) most = keysOfT;");
            }
            w.Line("if (keyBlocks.Length < (most + 63) / 64 * 64 * HeadDim || valueRows.Length < most * HeadDim) global::SourceGenTransformer.Runtime.TransformerErrors.SpanTooShort(\"attention keys and values\");");
            w.Line($"// scores (t, i) = q_t · k_i / sqrt(head_dim), one block of 64 keys at a time for the whole group");
            using (w.Block("for (int c = 0; c < most; c += 64)"))
            {
                w.Line($"ref float block = ref {Unsafe}.Add(ref ktRef, c * HeadDim);");
                using (w.Block("for (int t = g; t < ge; t++)"))
                {
                    w.Line($"if (c >= {count}) continue;");
                    w.Line($"ref float qRef = ref {Marshal}.GetReference(new {ReadOnlySpan}({queries}, {queryAt}, HeadDim));");
                    var acc = new List<string>();
                    for (int j = 0; j < 8; j++) acc.Add($"a{I(j)} = {VectorF}.Zero");
                    w.Line($"{VectorF} {string.Join(", ", acc)};");
                    using (w.Block("for (nuint d = 0; d < HeadDim; d++)"))
                    {
                        w.Line($"{VectorF} qd = {Vector}.Create({Unsafe}.Add(ref qRef, d));");
                        w.Line($"ref float row = ref {Unsafe}.Add(ref block, d * 64);");
                        for (int j = 0; j < 8; j++)
                            w.Line($"a{I(j)} = {Vector}.FusedMultiplyAdd({Vector}.LoadUnsafe(ref row, {I(8 * j)}), qd, a{I(j)});");
                    }
                    w.Line("// Keys of the block past count(t) are scored too (stale, or later positions); those scores are never read.");
                    w.Line($"ref float scoreRow = ref {Unsafe}.Add(ref rowsRef, (t - g) * {ScoreRoom} + c);");
                    for (int j = 0; j < 8; j++)
                        w.Line($"{Vector}.StoreUnsafe(a{I(j)} * Scale, ref scoreRow, {I(8 * j)});");
                }
            }
            using (w.Block("for (int t = g; t < ge; t++)"))
            {
                w.Line($"Kernels.Softmax(scoreRows.Slice((t - g) * {ScoreRoom}, {count}));");
                w.Line($"new {Span}({output}, {outputAt}, HeadDim).Clear();");
            }
            w.Line($"// o_t = sum over i of weights (t, i) * v_i, one block of 64 values at a time for the whole group");
            using (w.Block("for (int c = 0; c < most; c += 64)"))
            {
                using (w.Block("for (int t = g; t < ge; t++)"))
                {
                    w.Line($"int end = global::System.Math.Min(c + 64, {count});");
                    w.Line("if (c >= end) continue;");
                    w.Line($"ref float weights = ref {Unsafe}.Add(ref rowsRef, (t - g) * {ScoreRoom});");
                    if (!InRegisters(s))
                    {
                        w.Line($"{Span} oh = new {Span}({output}, {outputAt}, HeadDim);");
                        w.Line("for (int i = c; i < end; i++)");
                        w.Line($"    Kernels.{AxpyName(s.HeadDim)}(oh, {Unsafe}.Add(ref weights, i), valueRows.Slice(i * HeadDim, HeadDim));");
                    }
                    else
                    {
                        w.Line($"ref float oRef = ref {Marshal}.GetReference(new {Span}({output}, {outputAt}, HeadDim));");
                        var o = new List<string>();
                        for (int v = 0; v < vectors; v++) o.Add($"o{I(v)} = {Vector}.LoadUnsafe(ref oRef, {I(8 * v)})");
                        w.Line($"{VectorF} {string.Join(", ", o)};");
                        using (w.Block("for (int i = c; i < end; i++)"))
                        {
                            w.Line($"{VectorF} wi = {Vector}.Create({Unsafe}.Add(ref weights, i));");
                            w.Line($"ref float vi = ref {Unsafe}.Add(ref vgRef, i * HeadDim);");
                            for (int v = 0; v < vectors; v++)
                                w.Line($"o{I(v)} = {Vector}.FusedMultiplyAdd({Vector}.LoadUnsafe(ref vi, {I(8 * v)}), wi, o{I(v)});");
                        }
                        for (int v = 0; v < vectors; v++)
                            w.Line($"{Vector}.StoreUnsafe(o{I(v)}, ref oRef, {I(8 * v)});");
                    }
                }
            }
        }
    }

    /// <summary>
    /// Whether a head keeps its query and output in registers: widths that are a multiple of 8, up to 16 vectors of 8
    /// (128). Other widths call the Dot and Axpy kernels.
    /// </summary>
    public static bool InRegisters(ModelShape s) => s.HeadDim % 8 == 0 && s.HeadDim / 8 <= 16;
}
