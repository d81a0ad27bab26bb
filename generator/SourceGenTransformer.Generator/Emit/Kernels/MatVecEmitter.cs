using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The matrix-vector kernels decoding runs, xout = W @ x over rows [rowStart, rowEnd): over panels when the matrix is in
/// them (<see cref="PanelEmitter"/>), else row-major, streaming one row at a time when the model's matrices come from
/// memory and four rows at a time when they fit in cache (<see cref="ModelShape.CacheResident"/>). Each also gets an
/// overload over every row.
/// </summary>
internal static class MatVecEmitter
{
    public static void Emit(SourceWriter w, ModelShape s, int d, int n, bool panels, string? name = null)
    {
        name ??= KernelNames.MatVec(d, n);
        Precision p = s.Precision;
        if (panels) PanelEmitter.EmitMatVec(w, d, n, name);
        else if (p == Precision.Int8) IntegerEmitter.EmitInt8MatVec(w, d, n, name);
        else if (s.CacheResident) EmitResident(w, d, n, p, name);
        else EmitStreaming(w, d, n, p, name);
        string arguments = HasScales(p) ? "w, scales" : "w";
        w.Line($"/// <summary>xout ({I(d)}) = W ({I(d)} x {I(n)}) @ x ({I(n)}): every row.</summary>");
        w.Line($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {MatrixParameters(p)}) => {name}(xout, x, {arguments}, 0, {I(d)});");
        w.Line();
    }

    /// <summary>
    /// The doc comment, signature, guards and references every matrix-vector kernel over rows [rowStart, rowEnd) starts
    /// with; the body goes inside the returned block.
    /// </summary>
    /// <param name="layout">How W is stored, for the summary; row-major in the declared precision unless given.</param>
    public static System.IDisposable Head(SourceWriter w, int d, int n, Precision p, int group, string name, string remarks, string? layout = null)
    {
        string precision = p == Precision.BFloat16 ? "; W bfloat16" : "";
        layout ??= $"W row-major{precision}. Rows are independent";
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); {layout}, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>{remarks}</remarks>");
        System.IDisposable block = w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {MatrixParameters(p)}, int rowStart, int rowEnd)");
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)};");
        var guards = new List<string> { "xout.Length < Rows", "x.Length < Cols", "w.Length < Rows * Cols", "rowStart < 0", "rowEnd > Rows" };
        if (HasScales(p)) guards.Add($"scales.Length < Rows * Cols / {I(group)}");
        Guard(w, name, guards.ToArray());
        Refs(w, "xout", "x");
        WeightRefs(w, p);
        return block;
    }

    private static void EmitStreaming(SourceWriter w, int d, int n, Precision p, string name)
    {
        int blockEnd = n - n % 32;
        int vectorEnd = n - n % 8;
        using (Head(w, d, n, p, 0, name, "One row at a time, read front to back as a single stream (several interleaved row streams measured slower here), with four FMA chains."))
        {
            using (w.Block("for (int i = rowStart; i < rowEnd; i++)"))
            {
                w.Line("nuint r = (nuint)i * Cols;");
                w.Line($"{VectorF} c0 = {VectorF}.Zero, c1 = {VectorF}.Zero, c2 = {VectorF}.Zero, c3 = {VectorF}.Zero;");
                if (blockEnd > 0)
                {
                    using (w.Block($"for (nuint j = 0; j < {I(blockEnd)}; j += 32)"))
                    {
                        for (int c = 0; c < 4; c++)
                            w.Line($"c{c} = {Fma(WLoad(p, $"r + j + {I(8 * c)}"), Load("xRef", $"j + {I(8 * c)}"), $"c{c}")};");
                    }
                }
                for (int v = 0; v < (vectorEnd - blockEnd) / 8; v++)
                {
                    if (v == 0) w.Line($"// The last {I((vectorEnd - blockEnd) / 8)} whole vector(s): {I(n)} % 32 = {I(n % 32)}.");
                    w.Line($"c{v} = {Fma(WLoad(p, $"r + {I(blockEnd + 8 * v)}"), Load("xRef", I(blockEnd + 8 * v)), $"c{v}")};");
                }
                w.Line($"float sum = {Vector}.Sum((c0 + c1) + (c2 + c3));");
                if (vectorEnd != n)
                {
                    w.Line($"// Scalar tail: {I(n)} is not a multiple of 8.");
                    using (w.Block($"for (nuint j = {I(vectorEnd)}; j < Cols; j++)"))
                        w.Line($"sum += {WScalar(p, "r + j")} * {Unsafe}.Add(ref xRef, j);");
                }
                w.Line($"{Unsafe}.Add(ref xoutRef, i) = sum;");
            }
        }
        w.Line();
    }

    private static void EmitResident(SourceWriter w, int d, int n, Precision p, string name)
    {
        int pairEnd = n - n % 16;
        bool oddVector = n % 16 >= 8;
        int vectorEnd = n - n % 8;
        using (Head(w, d, n, p, 0, name, "The model's weights fit in cache: four rows at a time share each load of x, 8 FMA chains."))
        {
            void RowBlock(int rows, string rowVar)
            {
                var r = new List<string>();
                for (int k = 0; k < rows; k++) r.Add(k == 0 ? $"r0 = (nuint){rowVar} * Cols" : $"r{k} = r{k - 1} + Cols");
                w.Line("nuint " + string.Join(", ", r) + ";");
                for (int k = 0; k < rows; k++)
                    w.Line($"{VectorF} a{k} = {VectorF}.Zero, b{k} = {VectorF}.Zero;");
                if (pairEnd > 0)
                {
                    using (w.Block($"for (nuint j = 0; j < {I(pairEnd)}; j += 16)"))
                    {
                        w.Line($"{VectorF} x0 = {Load("xRef", "j")}, x1 = {Load("xRef", "j + 8")};");
                        for (int k = 0; k < rows; k++)
                        {
                            w.Line($"a{k} = {Fma(WLoad(p, $"r{k} + j"), "x0", $"a{k}")};");
                            w.Line($"b{k} = {Fma(WLoad(p, $"r{k} + j + 8"), "x1", $"b{k}")};");
                        }
                    }
                }
                if (oddVector)
                {
                    w.Line($"// One more column vector: {I(n)} % 16 = {I(n % 16)}.");
                    using (w.Block(""))
                    {
                        w.Line($"{VectorF} x0 = {Load("xRef", I(pairEnd))};");
                        for (int k = 0; k < rows; k++)
                            w.Line($"a{k} = {Fma(WLoad(p, $"r{k} + {I(pairEnd)}"), "x0", $"a{k}")};");
                    }
                }
                for (int k = 0; k < rows; k++)
                    w.Line($"float s{k} = {Vector}.Sum(a{k} + b{k});");
                if (vectorEnd != n)
                {
                    w.Line($"// Scalar tail: {I(n)} is not a multiple of 8.");
                    using (w.Block($"for (nuint j = {I(vectorEnd)}; j < Cols; j++)"))
                    {
                        w.Line($"float xj = {Unsafe}.Add(ref xRef, j);");
                        for (int k = 0; k < rows; k++)
                            w.Line($"s{k} += {WScalar(p, $"r{k} + j")} * xj;");
                    }
                }
                for (int k = 0; k < rows; k++)
                    w.Line($"{Unsafe}.Add(ref xoutRef, {rowVar}{(k == 0 ? "" : " + " + I(k))}) = s{k};");
            }

            w.Line("int i = rowStart;");
            w.Line("// Four rows per iteration: each x vector is loaded once for four rows.");
            using (w.Block("for (; i + 4 <= rowEnd; i += 4)"))
                RowBlock(4, "i");
            w.Line("// Leftover rows, one at a time.");
            using (w.Block("for (; i < rowEnd; i++)"))
                RowBlock(1, "i");
        }
        w.Line();
    }
}
