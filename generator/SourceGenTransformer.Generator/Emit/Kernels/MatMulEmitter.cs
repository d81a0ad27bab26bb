using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The row-major matrix-matrix kernels prompts and encoders run, xout[:, rowStart..rowEnd) = x @ Wᵀ: four weight rows by
/// four tokens per pass (sixteen chains), each weight vector loaded once for four tokens. Matrices in panels take
/// <see cref="PanelEmitter"/>'s kernels instead.
/// </summary>
internal static class MatMulEmitter
{
    /// <summary>A decoder's prompt kernel, in the declared precision.</summary>
    public static void EmitRows(SourceWriter w, int d, int n, Precision p)
    {
        string name = KernelNames.MatMul(d, n);
        // Vector512 only where it measured faster (samples/KernelBenchmarks): widening bfloat16 sixteen at a time. On
        // this hardware (AMD Zen 4) a 512-bit FMA takes both 256-bit pipes, so float32 tiles gain nothing and
        // lose to the horizontal sums of the wider accumulators.
        bool wide = n % 16 == 0 && p == Precision.BFloat16;
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; all row-major.</summary>");
        w.Line("/// <remarks>Four weight rows by four tokens per pass: each weight vector is loaded (and widened) once for four tokens, sixteen FMA");
        w.Line("/// chains. Rows outside, tokens inside, so the rows being used stay in L1. One chain per output, so sums associate");
        w.Line("/// differently from the matrix-vector kernel (within float32 rounding).");
        if (wide)
        {
            w.Line("/// With 512-bit vectors accelerated (a constant to the JIT and NativeAOT) the same tiles run on Vector512, widening sixteen");
            w.Line("/// bfloat16 at a time; results then differ from the Vector256 path in rounding only.");
        }
        w.Line("/// </remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {MatrixParameters(p)}, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)};");
            var guards = new List<string> { "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "rowStart < 0", "rowEnd > Out" };
            Guard(w, name, guards.ToArray());
            Refs(w, "xout", "x");
            WeightRefs(w, p);
            if (wide)
            {
                using (w.Block($"if ({Vector512}.IsHardwareAccelerated)"))
                    Tiles(w, n, p, 16);
                using (w.Block("else"))
                    Tiles(w, n, p, 8);
            }
            else
            {
                Tiles(w, n, p, 8);
            }
        }
        w.Line();
    }

    /// <summary>An encoder's float32 kernel over a row-major matrix, adding the bias to each finished sum.</summary>
    public static void EmitWithBias(SourceWriter w, int d, int n)
    {
        string name = KernelNames.MatMul(d, n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ + bias, for those rows of W; all row-major.</summary>");
        w.Line("/// <remarks>The tiles of the decoder's prompt kernel: four weight rows by four tokens, rows outside and tokens inside; the bias is added to each finished sum.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {ReadOnlySpan} w, {ReadOnlySpan} bias, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "bias.Length < Out", "rowStart < 0", "rowEnd > Out");
            Refs(w, "xout", "x", "w", "bias");
            Tiles(w, n, Precision.Float32, 8, bias: true);
        }
        w.Line();
    }

    /// <summary>The tiled loops over vectors of <paramref name="lanes"/> floats (8, or 16 for bfloat16 on Vector512).</summary>
    private static void Tiles(SourceWriter w, int n, Precision p, int lanes, bool bias = false)
    {
        string vec = lanes == 16 ? Vector512 : Vector;
        string vt = vec + "<float>";
        int vectorEnd = n - n % lanes;
        string WideLoad(string offset) => lanes == 16 ? $"{Packing}.LoadBFloat16x16(ref wRef, {offset})" : WLoad(p, offset);

        void Block(int tokens, int rows)
        {
            var xs = new List<string>();
            for (int k = 0; k < tokens; k++) xs.Add(k == 0 ? "x0 = (nuint)t * In" : $"x{k} = x{k - 1} + In");
            w.Line("nuint " + string.Join(", ", xs) + ";");
            var rs = new List<string>();
            for (int m = 0; m < rows; m++) rs.Add(m == 0 ? "w0 = (nuint)r * In" : $"w{m} = w{m - 1} + In");
            w.Line("nuint " + string.Join(", ", rs) + ";");
            for (int m = 0; m < rows; m++)
                for (int k = 0; k < tokens; k++)
                    w.Line($"{vt} a{m}{k} = {vt}.Zero;");
            void Step(string j)
            {
                for (int m = 0; m < rows; m++)
                    w.Line($"{vt} wv{m} = {WideLoad($"w{m} + {j}")};");
                for (int k = 0; k < tokens; k++)
                {
                    w.Line($"{vt} xv{k} = {vec}.LoadUnsafe(ref xRef, x{k} + {j});");
                    for (int m = 0; m < rows; m++)
                        w.Line($"a{m}{k} = {vec}.FusedMultiplyAdd(wv{m}, xv{k}, a{m}{k});");
                }
            }
            if (vectorEnd > 0)
            {
                using (w.Block($"for (nuint j = 0; j < {I(vectorEnd)}; j += {I(lanes)})"))
                    Step("j");
            }
            for (int m = 0; m < rows; m++)
                for (int k = 0; k < tokens; k++)
                    w.Line($"float s{m}{k} = {vec}.Sum(a{m}{k});");
            if (vectorEnd != n)
            {
                w.Line($"// Scalar tail: {I(n)} is not a multiple of {I(lanes)}.");
                using (w.Block($"for (nuint j = {I(vectorEnd)}; j < In; j++)"))
                {
                    for (int m = 0; m < rows; m++)
                    {
                        w.Line($"float wj{m} = {WScalar(p, $"w{m} + j")};");
                        for (int k = 0; k < tokens; k++) w.Line($"s{m}{k} += {Unsafe}.Add(ref xRef, x{k} + j) * wj{m};");
                    }
                }
            }
            for (int m = 0; m < rows; m++)
                for (int k = 0; k < tokens; k++)
                    w.Line($"{Unsafe}.Add(ref xoutRef, {(k == 0 ? "t" : $"(t + {I(k)})")} * Out + {Plus("r", m)}) = s{m}{k}{(bias ? $" + {Unsafe}.Add(ref biasRef, {Plus("r", m)})" : "")};");
        }

        w.Line("// Weight rows outside, tokens inside: the rows being used stay in L1 while every token of the block passes over them.");
        w.Line("int r = rowStart;");
        foreach (int rows in new[] { 4, 2, 1 })
        {
            using (w.Block(rows == 1 ? "for (; r < rowEnd; r++)" : $"for (; r + {I(rows)} <= rowEnd; r += {I(rows)})"))
            {
                w.Line("int t = 0;");
                using (w.Block("for (; t + 4 <= tokens; t += 4)")) Block(4, rows);
                using (w.Block("for (; t < tokens; t++)")) Block(1, rows);
            }
        }
    }
}
