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
            w.Line($"if (qh.Length < HeadDim) global::SourceGenTransformer.TransformerErrors.SpanTooShort(\"attention query\");");
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
        w.Line("if (oh.Length < HeadDim) global::SourceGenTransformer.TransformerErrors.SpanTooShort(\"attention output\");");
        w.Line($"ref float ohRef = ref {Marshal}.GetReference(oh);");
        for (int v = 0; v < vectors; v++)
            w.Line($"{Vector}.StoreUnsafe(o{I(v)}, ref ohRef, {I(8 * v)});");
    }

    /// <summary>
    /// Whether a head keeps its query and output in registers: widths that are a multiple of 8, up to 16 vectors of 8
    /// (128). Other widths call the Dot and Axpy kernels.
    /// </summary>
    public static bool InRegisters(ModelShape s) => s.HeadDim % 8 == 0 && s.HeadDim / 8 <= 16;
}
