using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The attention kernels, one head at a time: scores of queries against a set of key positions, a numerically stable
/// softmax, and the weighted sum of the values. <c>AttendHead</c> serves one query (decoding) over keys read where they
/// are; <c>LayOutKeys</c> and <c>AttendBlock</c> serve many queries (prompt blocks, encoders): a head's keys transposed
/// and its values gathered once, then every query of a group against one L1-sized block of them at a time. Keys and
/// values are either contiguous (position i at i * stride) or at listed positions (the source positions that are not
/// padding), the <c>At</c> variants.
/// </summary>
internal static class AttentionKernelsEmitter
{
    /// <summary>Queries that AttendBlock scores together: their score rows stay in a small buffer.</summary>
    public const int QueryGroup = 32;

    /// <summary>Floats a row of scores takes in AttendBlock: whole blocks of 64 keys.</summary>
    public const string ScoreRoom = "((MaxSequenceLength + 63) / 64 * 64)";

    /// <summary>Floats AttendBlock's score buffer takes: a group of queries' rows.</summary>
    public static string ScoreBufferLength => $"({I(QueryGroup)} * {ScoreRoom})";

    /// <summary>Floats a transposed-keys buffer takes for up to MaxSequenceLength keys: whole blocks of 64 keys.</summary>
    public const string TransposedKeysLength = "((MaxSequenceLength + 63) / 64 * 64 * HeadDim)";

    /// <summary>Floats a gathered-values buffer takes: MaxSequenceLength rows of HeadDim.</summary>
    public const string GatheredValuesLength = "(MaxSequenceLength * HeadDim)";

    /// <summary>
    /// Whether a head keeps its query and output in registers: widths that are a multiple of 8, up to 16 vectors of 8
    /// (128). Other widths call the Dot and Axpy kernels.
    /// </summary>
    public static bool InRegisters(ModelShape s) => s.HeadDim % 8 == 0 && s.HeadDim / 8 <= 16;

    public static void Emit(SourceWriter w, ModelShape s, bool decodeContiguous, bool decodeIndexed, bool blockContiguous, bool blockIndexed)
    {
        if (decodeContiguous) EmitAttendHead(w, s, indexed: false);
        if (decodeIndexed) EmitAttendHead(w, s, indexed: true);
        if (blockContiguous) EmitLayOutKeys(w, indexed: false);
        if (blockIndexed) EmitLayOutKeys(w, indexed: true);
        if (blockContiguous || blockIndexed) EmitAttendBlock(w, s);
    }

    /// <summary>o = Σ_i softmax_i(q · k_i / sqrt(HeadDim)) v_i, for one query: the decoding step.</summary>
    private static void EmitAttendHead(SourceWriter w, ModelShape s, bool indexed)
    {
        string hd = I(s.HeadDim);
        string name = indexed ? "AttendHeadAt" : "AttendHead";
        string position = indexed ? "positions[i]" : "i";
        string count = indexed ? "positions.Length" : "count";
        w.Line("/// <summary>");
        w.Line($"/// o ({hd}) = Σ_i softmax_i(q · k_i / sqrt({hd})) v_i over {(indexed ? "the listed positions" : "positions 0..count")}: key and value of position p at");
        w.Line($"/// keys[p * stride] and values[p * stride]. <paramref name=\"weights\"/> ({count}) receives the attention weights.");
        w.Line("/// </summary>");
        string counted = indexed ? "ReadOnlySpan<int> positions" : "int count";
        using (w.Block($"internal static void {name}({ReadOnlySpan} q, {ReadOnlySpan} keys, {ReadOnlySpan} values, int stride, {counted}, {Span} weights, {Span} o)"))
        {
            w.Line("const float Scale = AttentionScale;");
            if (indexed)
            {
                w.Line("int count = positions.Length, last = 0;");
                w.Line("foreach (int p in positions) last = Math.Max(last, p);");
            }
            else
            {
                w.Line("int last = count - 1;");
            }
            Guard(w, name, "q.Length < HeadDim", "o.Length < HeadDim", "weights.Length < count",
                "count > 0 && (keys.Length < last * stride + HeadDim || values.Length < last * stride + HeadDim)");
            Refs(w, "keys", "values");
            w.Line($"// weights[i] = q ({hd}) · k_i ({hd}) / sqrt({hd}), then softmax over the attended positions");
            int vectors = s.HeadDim / 8;
            bool registers = InRegisters(s);
            if (registers)
            {
                // The query stays in registers across the positions; two FMA chains per position, fully unrolled.
                w.Line($"ref float qRef = ref {Marshal}.GetReference(q);");
                var qs = new List<string>();
                for (int v = 0; v < vectors; v++) qs.Add($"q{I(v)} = {Vector}.LoadUnsafe(ref qRef, {I(8 * v)})");
                w.Line($"{VectorF} {string.Join(", ", qs)};");
                using (w.Block("for (int i = 0; i < count; i++)"))
                {
                    w.Line($"ref float ki = ref {Unsafe}.Add(ref keysRef, {position} * stride);");
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
                w.Line("for (int i = 0; i < count; i++)");
                w.Line($"    weights[i] = {KernelNames.Dot(s.HeadDim)}(q, keys.Slice({position} * stride, HeadDim)) * Scale;");
            }
            w.Line("Ops.Softmax(weights.Slice(0, count));");
            w.Line($"// o ({hd}) = sum over i of weights[i] * v_i ({hd})");
            if (!registers)
            {
                w.Line("o.Slice(0, HeadDim).Clear();");
                w.Line("for (int i = 0; i < count; i++)");
                w.Line($"    {KernelNames.Axpy(s.HeadDim)}(o, weights[i], values.Slice({position} * stride, HeadDim));");
                return;
            }
            // The output stays in registers across the positions (an Axpy per position would store it and load it back,
            // a chain through memory from one position to the next); each lane still sums the positions in order.
            var acc = new List<string>();
            for (int v = 0; v < vectors; v++) acc.Add($"o{I(v)} = {VectorF}.Zero");
            w.Line($"{VectorF} {string.Join(", ", acc)};");
            using (w.Block("for (int i = 0; i < count; i++)"))
            {
                w.Line($"{VectorF} wi = {Vector}.Create(weights[i]);");
                w.Line($"ref float vi = ref {Unsafe}.Add(ref valuesRef, {position} * stride);");
                for (int v = 0; v < vectors; v++)
                    w.Line($"o{I(v)} = {Vector}.FusedMultiplyAdd({Vector}.LoadUnsafe(ref vi, {I(8 * v)}), wi, o{I(v)});");
            }
            w.Line($"ref float oRef = ref {Marshal}.GetReference(o);");
            for (int v = 0; v < vectors; v++)
                w.Line($"{Vector}.StoreUnsafe(o{I(v)}, ref oRef, {I(8 * v)});");
        }
        w.Line();
    }

    /// <summary>
    /// Lays a head's keys and values out for AttendBlock: keys in blocks of 64, each HeadDim rows of 64 (value d of key i
    /// at i / 64 * 64 * HeadDim + d * 64 + i % 64), values in consecutive rows (value i at i * HeadDim). Rows of the
    /// projections lie kilobytes apart, a stride at which many share an L1 set; the copies are read front to back, one
    /// 16 KiB block of keys at a time.
    /// </summary>
    private static void EmitLayOutKeys(SourceWriter w, bool indexed)
    {
        string name = indexed ? "LayOutKeysAt" : "LayOutKeys";
        string position = indexed ? "positions[i]" : "i";
        w.Line("/// <summary>");
        w.Line($"/// kt, vg = the keys and values of {(indexed ? "the listed positions" : "positions 0..count")} (position p at keys[p * stride], values[p * stride]), keys");
        w.Line("/// transposed in blocks of 64 (value d of key i at i / 64 * 64 * HeadDim + d * 64 + i % 64), values in rows of HeadDim.");
        w.Line("/// </summary>");
        string counted = indexed ? "ReadOnlySpan<int> positions" : "int count";
        using (w.Block($"internal static void {name}({ReadOnlySpan} keys, {ReadOnlySpan} values, int stride, {counted}, {Span} kt, {Span} vg)"))
        {
            if (indexed) w.Line("int count = positions.Length;");
            Guard(w, name, "kt.Length < (count + 63) / 64 * 64 * HeadDim", "vg.Length < count * HeadDim");
            w.Line($"ref float ktRef = ref {Marshal}.GetReference(kt);");
            using (w.Block("for (int i = 0; i < count; i++)"))
            {
                w.Line($"{ReadOnlySpan} key = keys.Slice({position} * stride, HeadDim);");
                w.Line($"ref float column = ref {Unsafe}.Add(ref ktRef, i / 64 * 64 * HeadDim + i % 64);");
                w.Line($"for (int d = 0; d < HeadDim; d++) {Unsafe}.Add(ref column, d * 64) = key[d];");
                w.Line($"values.Slice({position} * stride, HeadDim).CopyTo(vg.Slice(i * HeadDim, HeadDim));");
            }
        }
        w.Line();
    }

    /// <summary>
    /// Attention of one head for queries t in [tStart, tEnd) over keys and values laid out by LayOutKeys. Queries go in
    /// groups of <see cref="QueryGroup"/>, and each group walks the keys one block of 64 at a time (16 KiB of keys or
    /// values, read from L1 by every query of the group): scores are 8 vectors of 8 keys, each a chain of FMAs over d with
    /// q[d] broadcast (no sums across lanes); the weighted sum keeps a query's output in registers over a block (an Axpy
    /// per key for heads too wide for them) and in memory between blocks. Every lane sums its keys in order, so results
    /// depend neither on the grouping nor on the split across workers.
    /// </summary>
    private static void EmitAttendBlock(SourceWriter w, ModelShape s)
    {
        int vectors = s.HeadDim / 8;
        const string count = "(causal ? keysBefore + t + 1 : keysBefore)";
        // A sliding window: causal query t attends only the last SlidingWindow of its keys (its scores before them are never read).
        bool window = s.SlidingWindow > 0;
        const string first = "(causal ? Math.Max(keysBefore + t + 1 - SlidingWindow, 0) : 0)";
        w.Line("/// <summary>");
        w.Line("/// o_t = softmax(q_t · k / sqrt(HeadDim)) v for queries t in [tStart, tEnd) (q_t at queries[t * queryStride], o_t at");
        w.Line("/// output[t * outputStride]), over keys and values laid out by LayOutKeys: query t attends the first keysBefore + t + 1");
        w.Line("/// keys when <paramref name=\"causal\"/>, else the first keysBefore. <paramref name=\"scores\"/> holds a group's score rows.");
        w.Line("/// </summary>");
        using (w.Block($"internal static void AttendBlock({ReadOnlySpan} queries, int queryStride, {Span} output, int outputStride, int tStart, int tEnd, int keysBefore, bool causal, {ReadOnlySpan} kt, {ReadOnlySpan} vg, {Span} scores)"))
        {
            w.Line("const float Scale = AttentionScale;");
            w.Line($"int most = causal ? keysBefore + tEnd : keysBefore;");
            Guard(w, "AttendBlock", "tStart < 0", "tEnd > tStart && (queries.Length < (tEnd - 1) * queryStride + HeadDim || output.Length < (tEnd - 1) * outputStride + HeadDim)",
                "kt.Length < (most + 63) / 64 * 64 * HeadDim", "vg.Length < most * HeadDim", $"scores.Length < {ScoreBufferLength}");
            w.Line($"ref float ktRef = ref {Marshal}.GetReference(kt);");
            w.Line($"ref float vgRef = ref {Marshal}.GetReference(vg);");
            w.Line($"ref float rowsRef = ref {Marshal}.GetReference(scores);");
            w.Line($"ref float qBase = ref {Marshal}.GetReference(queries);");
            w.Line($"ref float oBase = ref {Marshal}.GetReference(output);");
            using (w.Block($"for (int g = tStart; g < tEnd; g += {I(QueryGroup)})"))
            {
                w.Line($"int ge = Math.Min(g + {I(QueryGroup)}, tEnd), groupMost = 0;");
                using (w.Block("for (int t = g; t < ge; t++)"))
                {
                    w.Line($"int keysOfT = {count};");
                    w.Line("if (keysOfT > groupMost) groupMost = keysOfT;");
                }
                w.Line("// scores (t, i) = q_t · k_i / sqrt(head_dim), one block of 64 keys at a time for the whole group");
                using (w.Block("for (int c = 0; c < groupMost; c += 64)"))
                {
                    w.Line($"ref float block = ref {Unsafe}.Add(ref ktRef, c * HeadDim);");
                    using (w.Block("for (int t = g; t < ge; t++)"))
                    {
                        w.Line($"if (c >= {count}) continue;");
                        w.Line($"ref float qRef = ref {Unsafe}.Add(ref qBase, t * queryStride);");
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
                    if (window)
                    {
                        w.Line($"int from = {first};");
                        w.Line($"Ops.Softmax(scores.Slice((t - g) * {ScoreRoom} + from, {count} - from));");
                    }
                    else
                        w.Line($"Ops.Softmax(scores.Slice((t - g) * {ScoreRoom}, {count}));");
                    w.Line("output.Slice(t * outputStride, HeadDim).Clear();");
                }
                w.Line("// o_t = sum over i of weights (t, i) * v_i, one block of 64 values at a time for the whole group");
                using (w.Block("for (int c = 0; c < groupMost; c += 64)"))
                {
                    using (w.Block("for (int t = g; t < ge; t++)"))
                    {
                        w.Line($"int end = Math.Min(c + 64, {count}), from = {(window ? $"Math.Max(c, {first})" : "c")};");
                        w.Line("if (from >= end) continue;");
                        w.Line($"ref float weights = ref {Unsafe}.Add(ref rowsRef, (t - g) * {ScoreRoom});");
                        if (!InRegisters(s))
                        {
                            w.Line($"{Span} oh = output.Slice(t * outputStride, HeadDim);");
                            w.Line("for (int i = from; i < end; i++)");
                            w.Line($"    {KernelNames.Axpy(s.HeadDim)}(oh, {Unsafe}.Add(ref weights, i), vg.Slice(i * HeadDim, HeadDim));");
                        }
                        else
                        {
                            w.Line($"ref float oRef = ref {Unsafe}.Add(ref oBase, t * outputStride);");
                            var o = new List<string>();
                            for (int v = 0; v < vectors; v++) o.Add($"o{I(v)} = {Vector}.LoadUnsafe(ref oRef, {I(8 * v)})");
                            w.Line($"{VectorF} {string.Join(", ", o)};");
                            using (w.Block("for (int i = from; i < end; i++)"))
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
        w.Line();
    }
}
