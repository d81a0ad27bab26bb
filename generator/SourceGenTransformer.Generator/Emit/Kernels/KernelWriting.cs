using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>The small pieces every kernel emitter writes: guards, references, loads, FMAs and the vector loop with its tail.</summary>
internal static class KernelWriting
{
    public static string Load(string reference, string offset) => $"{Vector}.LoadUnsafe(ref {reference}, {offset})";

    public static string Fma(string a, string b, string c) => $"{Vector}.FusedMultiplyAdd({a}, {b}, {c})";

    /// <summary><c>ref float xRef = ref MemoryMarshal.GetReference(x);</c> for each span.</summary>
    public static void Refs(SourceWriter w, params string[] spans)
    {
        foreach (string span in spans)
            w.Line($"ref float {span}Ref = ref {Marshal}.GetReference({span});");
    }

    /// <summary>One line that throws (out of line) when any condition holds: the spans are shorter than the kernel's constant shape.</summary>
    public static void Guard(SourceWriter w, string kernel, params string[] conditions) =>
        w.Line($"if ({string.Join(" || ", conditions)}) {Errors}.SpanTooShort(\"{kernel}\");");

    /// <summary>
    /// A loop over [0, n): a vector body at offsets stepping by 8 up to the largest multiple of 8, then (only when n is
    /// not a multiple of 8) a scalar body for the rest.
    /// </summary>
    public static void VectorLoop(SourceWriter w, int n, string[] vectorBody, string[] scalarBody)
    {
        int vectorEnd = n - n % 8;
        if (vectorEnd > 0)
        {
            using (w.Block($"for (nuint j = 0; j < {I(vectorEnd)}; j += 8)"))
                foreach (string line in vectorBody) w.Line(line);
        }
        if (vectorEnd != n)
        {
            w.Line($"// Scalar tail: {I(n)} is not a multiple of 8.");
            using (w.Block($"for (nuint j = {I(vectorEnd)}; j < {I(n)}; j++)"))
                foreach (string line in scalarBody) w.Line(line);
        }
    }

    /// <summary>The scalar tail of a loop whose vector part ran elsewhere; nothing when n is a multiple of 8.</summary>
    public static void TailOnly(SourceWriter w, int n, string body)
    {
        int vectorEnd = n - n % 8;
        if (vectorEnd == n) return;
        w.Line($"// Scalar tail: {I(n)} is not a multiple of 8.");
        using (w.Block($"for (nuint j = {I(vectorEnd)}; j < {I(n)}; j++)"))
            w.Line(body);
    }

    /// <summary>Float32 vector of 8 weights of a float matrix at <paramref name="offset"/>, in the model's precision (float32 or bfloat16).</summary>
    public static string WLoad(Precision p, string offset) => p == Precision.BFloat16
        ? $"{Packing}.LoadBFloat16(ref wRef, {offset})"
        : Load("wRef", offset);

    /// <summary>One weight of a float matrix as a float32 (scalar tails).</summary>
    public static string WScalar(Precision p, string offset) => p == Precision.BFloat16
        ? $"{Packing}.BFloat16ToSingle({Unsafe}.Add(ref wRef, {offset}))"
        : $"{Unsafe}.Add(ref wRef, {offset})";

    public static void WeightRefs(SourceWriter w, Precision p)
    {
        w.Line($"ref {MatrixElement(p)} wRef = ref {Marshal}.GetReference(w);");
        if (HasScales(p)) w.Line($"ref Half scalesRef = ref {Marshal}.GetReference(scales);");
    }

    /// <summary>The element type of a matrix in the given precision.</summary>
    public static string MatrixElement(Precision p) => p switch { Precision.BFloat16 => "ushort", Precision.Int8 => "sbyte", _ => "float" };

    /// <summary>Whether a matrix in the precision comes with an array of one float16 scale per group of weights (Int8).</summary>
    public static bool HasScales(Precision p) => p == Precision.Int8;

    /// <summary>The kernel parameters a matrix takes: the values and, for Int8, the scales; a BlockMatrix (Q4_0, Q4K).</summary>
    public static string MatrixParameters(Precision p) => p is Precision.Q4K or Precision.Q4_0 ? "BlockMatrix w" : HasScales(p)
        ? $"ReadOnlySpan<{MatrixElement(p)}> w, ReadOnlySpan<Half> scales"
        : $"ReadOnlySpan<{MatrixElement(p)}> w";

    /// <summary>The arguments that pass <paramref name="count"/> weights of matrix <paramref name="field"/> from <paramref name="offset"/>.</summary>
    /// <remarks>
    /// A Q4_0 or Q4K model's (<see cref="ModelShape.BlockMatrices"/>) matrices are one <c>BlockMatrix</c> each: a per-layer
    /// field (any offset but "0") is indexed by the layer <c>l</c> in scope, a whole-model one (the classifier) is passed as it is.
    /// </remarks>
    public static string MatrixArguments(ModelShape s, string field, string offset, string count)
    {
        if (s.BlockMatrices) return offset == "0" ? field : field + "[l]";
        string values = offset == "0" ? field : Sp(field, offset, count);
        if (!HasScales(s.Precision)) return values;
        int g = s.QuantGroup;
        return $"{values}, {(offset == "0" ? field + "Scale" : Sp(field + "Scale", $"({offset}) / {g}", $"({count}) / {g}"))}";
    }
}
