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
        w.Line($"for (int i = 0; i < {count}; i++)");
        w.Line($"    weights[i] = Kernels.{DotName(s.HeadDim)}(qh, new {ReadOnlySpan}({keys}, {keyAt}, HeadDim)) * Scale;");
        w.Line("Kernels.Softmax(weights);");
        w.Line($"// o ({hd}) = sum over i of weights[i] * v_i ({hd})");
        w.Line($"{Span} oh = {output};");
        w.Line("oh.Clear();");
        w.Line($"for (int i = 0; i < {count}; i++)");
        w.Line($"    Kernels.{AxpyName(s.HeadDim)}(oh, weights[i], new {ReadOnlySpan}({values}, {valueAt}, HeadDim));");
    }
}
