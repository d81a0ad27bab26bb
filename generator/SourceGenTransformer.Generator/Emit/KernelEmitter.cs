using System.Collections.Generic;
using System.Globalization;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes the model's kernels: one static method per operation and shape, every trip count a
/// constant. Each kernel's first doc line is its contract.
/// </summary>
/// <remarks>
/// The one unrolling policy: loops step by <c>Vector256&lt;float&gt;.Count</c> (8) with the trip
/// count a constant; a scalar tail is emitted only where a dimension is not a multiple of 8.
/// Float32 matrices whose row count is a multiple of 32 are stored in panels and multiplied as
/// outer products (<c>KernelEmitter.Panels.cs</c>). The other matrices (other row counts,
/// bfloat16, Int8) are row-major: the matrix-vector product reads one row at a time front to back
/// (one memory stream per thread: on this hardware interleaving 2 or 4 rows measured 30-40%
/// slower) with 4 fused multiply-add chains over blocks of 32 columns, or 4 rows at a time where
/// the model fits in cache; the matrix-matrix product takes 4 weight rows by 4 tokens: 16 chains,
/// each weight vector loaded once for 4 tokens.
/// Other kernels are single vector loops: they are
/// bound by memory, not by FMA latency. Nothing is unrolled across layers: layers share code.
/// </remarks>
internal static partial class KernelEmitter
{
    public static void Emit(SourceWriter w, ModelShape s)
    {
        w.Line("/// <summary>The kernels of this model, specialised to its constant shapes (see the remarks for the unrolling policy).</summary>");
        w.Line("/// <remarks>");
        w.Line("/// Loops step by Vector256&lt;float&gt;.Count with constant trip counts; a scalar tail exists only where a dimension");
        w.Line("/// is not a multiple of 8. Float32 matrices of 32k rows are in panels of 32 rows, column by column: MatMul keeps 32 rows by");
        w.Line("/// 12 tokens in registers (Vector512; 16 by 6 on Vector256), MatVec streams the panels. Row-major MatVec reads one row at a");
        w.Line("/// time with 4 FMA chains; row-major MatMul takes 4 rows by 4 tokens (16 chains).");
        w.Line("/// </remarks>");
        w.Line(GeneratedCode);
        using (w.Block("internal static class Kernels"))
        {
            // Lighter precisions are decoder-only: on an encoder family the parser reports an error and nothing is generated.
            foreach ((int d, int n) in Distinct(MatVecShapes(s)))
                EmitMatVec(w, d, n, s.Precision, s.QuantGroup, s.CacheResident, s.Panels(d));
            if (s.ClassifierRowsKernel)
                EmitMatVec(w, s.VocabSize, s.ModelDim, s.Precision, s.QuantGroup, s.CacheResident, panels: false, ClassifierName(s));
            bool padded = false;
            foreach ((int d, int n) in Distinct(MatMulShapes(s)))
            {
                if (s.Panels(d)) EmitPanelMatMul(w, d, n, bias: !s.IsDecoderOnly);
                else if (s.IsDecoderOnly) EmitMatMulRows(w, d, n, s.Precision, s.QuantGroup);
                else EmitMatMul(w, d, n);
                padded |= s.Panels(d) && PadsInput(n);
            }
            if (padded) EmitPaddedInput(w);

            foreach (int n in AddSizes(s))
                EmitAdd(w, n);

            if (s.Family == Family.Llama) EmitRowKernels(w);
            if (!AttentionEmitter.InRegisters(s))
            {
                // Only heads too wide (or not a multiple of 8) to keep in registers call these.
                EmitDot(w, s.HeadDim);
                EmitAxpy(w, s.HeadDim);
            }
            if (s.Normalization == Norm.RmsNorm) EmitRmsNorm(w, s.ModelDim, s.NormEpsilon);
            else EmitLayerNorm(w, s.ModelDim, s.NormEpsilon);
            EmitSoftmax(w);
            if (s.Positional == Positional.Rotary) EmitRope(w, s.HeadDim);
            EmitActivation(w, s.Activation, s.FeedForwardDim);
        }
    }

    // ---------------------------------------------------------------- names used by the forward pass

    public static string MatVecName(int d, int n) => $"MatVec{d}x{n}";

    public static string MatMulName(int d, int n) => $"MatMul{d}x{n}";

    /// <summary>
    /// The decoder's classifier kernel: the matrix-vector kernel of its shape, except for a tied float32 classifier
    /// (row-major, the token embedding) whose shape would otherwise get the panel kernel.
    /// </summary>
    public static string ClassifierName(ModelShape s) => MatVecName(s.VocabSize, s.ModelDim) + (s.ClassifierRowsKernel ? "Rows" : "");

    /// <summary>
    /// How many rows of a matrix of <paramref name="rows"/> rows a worker's share is a multiple of: whole panels (32)
    /// for a matrix in panels, else <paramref name="rowMajor"/>.
    /// </summary>
    public static int SplitRows(ModelShape s, int rows, int rowMajor) => s.Panels(rows) ? 32 : rowMajor;

    /// <summary>
    /// Writes a worker's loop over the rows of a decode-time matrix-vector job (<c>WorkerPool.NextRows</c>): a fixed
    /// share of the first three quarters of the rows, then claims from the rest, so the worker that finishes early
    /// takes more of the tail. A claim is at least 64 KiB of weights and at most a 32nd of the tail, in multiples of
    /// <paramref name="split"/>. <paramref name="body"/> writes the work on rows [rs, re). The session's pool is
    /// <c>_pool</c>.
    /// </summary>
    public static void EmitRowClaims(SourceWriter w, ModelShape s, int rows, int cols, int split, System.Action body)
    {
        int RoundUp(int x) => (x + split - 1) / split * split;
        long rowBytes = s.Precision switch { Precision.BFloat16 => 2L * cols, Precision.Int8 => cols + cols / 16, _ => 4L * cols };
        int fixedRows = rows / split * 3 / 4 * split;
        int chunk = RoundUp(System.Math.Max((int)((64 * 1024 + rowBytes - 1) / rowBytes), (rows - fixedRows) / 32));
        w.Line("bool fixedTaken = false;");
        using (w.Block($"while (_pool.NextRows(ref fixedTaken, {I(fixedRows)}, {I(rows)}, {I(split)}, {I(chunk)}, part, out int rs, out int re))"))
            body();
    }

    public static string AddName(int n) => $"Add{n}";

    public static string DotName(int n) => $"Dot{n}";

    public static string AxpyName(int n) => $"Axpy{n}";

    public static string NormName(ModelShape s) => (s.Normalization == Norm.RmsNorm ? "RmsNorm" : "LayerNorm") + s.ModelDim.ToString(CultureInfo.InvariantCulture);

    public static string ActivationName(ModelShape s) => s.Activation + s.FeedForwardDim.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The job number a parallel work item gives the product of shape (d, n): its index among the distinct
    /// <paramref name="shapes"/>, in order. The work item's Execute has one case per distinct shape.
    /// </summary>
    internal static int JobOf(IEnumerable<(int d, int n)> shapes, int d, int n) => Distinct(shapes).IndexOf((d, n));

    /// <summary>The shapes without repeats, in first-seen order.</summary>
    internal static List<(int d, int n)> Distinct(IEnumerable<(int d, int n)> shapes)
    {
        var distinct = new List<(int d, int n)>();
        foreach ((int d, int n) shape in shapes)
            if (!distinct.Contains(shape)) distinct.Add(shape);
        return distinct;
    }

    internal static IEnumerable<(int d, int n)> MatMulShapes(ModelShape s)
    {
        if (s.IsDecoderOnly)
        {
            // A prompt runs every position at once through the same projections (the classifier only for the last).
            if (s.Family == Family.Gpt2) yield return (s.QkvDim, s.ModelDim);
            else
            {
                yield return (s.ModelDim, s.ModelDim);
                yield return (s.KvDim, s.ModelDim);
            }
            yield return (s.ModelDim, s.ModelDim);
            yield return (s.FeedForwardDim, s.ModelDim);
            yield return (s.ModelDim, s.FeedForwardDim);
            yield break;
        }
        // Encoders run all positions at once: in_proj, out_proj, linear1, linear2.
        yield return (3 * s.ModelDim, s.ModelDim);
        yield return (s.ModelDim, s.ModelDim);
        yield return (s.FeedForwardDim, s.ModelDim);
        yield return (s.ModelDim, s.FeedForwardDim);
    }

    internal static IEnumerable<(int d, int n)> MatVecShapes(ModelShape s)
    {
        if (s.Family == Family.Bert) yield break;
        if (s.Family == Family.Seq2Seq)
        {
            // The decoder, one token at a time: self-attention in_proj, cross-attention query and out_proj, feed-forward, generator.
            yield return (3 * s.ModelDim, s.ModelDim);
            yield return (s.ModelDim, s.ModelDim);
            yield return (s.FeedForwardDim, s.ModelDim);
            yield return (s.ModelDim, s.FeedForwardDim);
            yield return (s.TargetVocabSize, s.ModelDim);
            yield break;
        }
        if (s.Family == Family.Gpt2)
        {
            yield return (s.QkvDim, s.ModelDim);
            yield return (s.ModelDim, s.ModelDim);
        }
        else
        {
            yield return (s.ModelDim, s.ModelDim);
            yield return (s.KvDim, s.ModelDim);
        }
        yield return (s.FeedForwardDim, s.ModelDim);
        yield return (s.ModelDim, s.FeedForwardDim);
        if (!s.ClassifierRowsKernel) yield return (s.VocabSize, s.ModelDim); // else its own kernel (ClassifierName)
    }

    private static IEnumerable<int> AddSizes(ModelShape s)
    {
        var sizes = new SortedSet<int> { s.ModelDim };
        if (s.Family is Family.Gpt2 or Family.Seq2Seq)
        {
            // Biases: c_attn (qkv) and c_fc (ffn); residual and c_proj biases are ModelDim.
            sizes.Add(s.QkvDim);
            sizes.Add(s.FeedForwardDim);
        }
        if (s.Family == Family.Seq2Seq) sizes.Add(s.TargetVocabSize); // generator bias
        return sizes;
    }

    // ---------------------------------------------------------------- helpers

    private static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(float value) => Literal(value) + "f";

    private static string Load(string reference, string offset) => $"{Vector}.LoadUnsafe(ref {reference}, {offset})";

    private static string Fma(string a, string b, string c) => $"{Vector}.FusedMultiplyAdd({a}, {b}, {c})";

    private static void Refs(SourceWriter w, params string[] spans)
    {
        foreach (string span in spans)
            w.Line($"ref float {span}Ref = ref {Marshal}.GetReference({span});");
    }

    private static void Guard(SourceWriter w, string kernel, params string[] conditions)
    {
        w.Line($"if ({string.Join(" || ", conditions)}) {Errors}.SpanTooShort(\"{kernel}\");");
    }

    /// <summary>
    /// Writes a loop over [0, n): a vector body at offsets stepping by 8 up to the largest multiple
    /// of 8, then (only when n is not a multiple of 8) a scalar body for the rest.
    /// </summary>
    private static void VectorLoop(SourceWriter w, int n, string[] vectorBody, string[] scalarBody)
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

    // ---------------------------------------------------------------- kernels

    /// <summary>Float32 vector of 8 weights of the matrix at <paramref name="offset"/>, in the model's precision (Int8 unscaled).</summary>
    private static string WLoad(Precision p, string offset) => p switch
    {
        Precision.BFloat16 => $"{Packing}.LoadBFloat16(ref wRef, {offset})",
        Precision.Int8 => $"{Packing}.LoadInt8(ref wRef, {offset})",
        _ => Load("wRef", offset),
    };

    /// <summary>One weight as a float32 (scalar tails; Int8 never has one).</summary>
    private static string WScalar(Precision p, string offset) => p == Precision.BFloat16
        ? $"{Packing}.BFloat16ToSingle({Unsafe}.Add(ref wRef, {offset}))"
        : $"{Unsafe}.Add(ref wRef, {offset})";

    private static void WeightRefs(SourceWriter w, Precision p)
    {
        w.Line($"ref {WeightsEmitter.MatrixElement(p)} wRef = ref {Marshal}.GetReference(w);");
        if (p == Precision.Int8) w.Line($"ref float scalesRef = ref {Marshal}.GetReference(scales);");
    }

    /// <summary>
    /// The matrix-vector kernel: over panels when the matrix is in them; else streaming (one row at a time) when the
    /// model's matrices come from memory, resident (four rows at a time) when they fit in cache; plus an overload over
    /// every row.
    /// </summary>
    private static void EmitMatVec(SourceWriter w, int d, int n, Precision p, int group, bool resident, bool panels, string? name = null)
    {
        name ??= MatVecName(d, n);
        if (panels) EmitPanelMatVec(w, d, n, name);
        else if (resident) EmitMatVecResident(w, d, n, p, group, name);
        else EmitMatVecStreaming(w, d, n, p, group, name);
        string arguments = p == Precision.Int8 ? "w, scales" : "w";
        w.Line($"/// <summary>xout ({I(d)}) = W ({I(d)} x {I(n)}) @ x ({I(n)}): every row.</summary>");
        w.Line($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {WeightsEmitter.MatrixParameters(p)}) => {name}(xout, x, {arguments}, 0, {I(d)});");
        w.Line();
    }

    private static void EmitMatVecStreaming(SourceWriter w, int d, int n, Precision p, int group, string name)
    {
        int blockEnd = n - n % 32;
        int vectorEnd = n - n % 8;
        using (MatVecHead(w, d, n, p, group, name, "One row at a time, read front to back as a single stream (several interleaved row streams measured slower here), with four FMA chains."))
        {
            using (w.Block("for (int i = rowStart; i < rowEnd; i++)"))
            {
                w.Line("nuint r = (nuint)i * Cols;");
                w.Line($"{VectorF} c0 = {VectorF}.Zero, c1 = {VectorF}.Zero, c2 = {VectorF}.Zero, c3 = {VectorF}.Zero;");
                if (p == Precision.Int8)
                {
                    w.Line($"// Per group of {I(group)}: the products in chains c2, c3, then scaled once into c0.");
                    using (w.Block($"for (nuint j = 0; j < Cols; j += {I(group)})"))
                    {
                        w.Line($"c2 = c3 = {VectorF}.Zero;");
                        for (int v = 0; v < group / 8; v++)
                        {
                            string chain = v % 2 == 0 ? "c2" : "c3";
                            w.Line($"{chain} = {Fma(WLoad(p, $"r + j + {I(8 * v)}"), Load("xRef", $"j + {I(8 * v)}"), chain)};");
                        }
                        w.Line($"{VectorF} scale = {Vector}.Create({Unsafe}.Add(ref scalesRef, (r + j) / {I(group)}));");
                        w.Line($"c0 = {Fma("c2 + c3", "scale", "c0")};");
                    }
                    w.Line($"float sum = {Vector}.Sum(c0);");
                }
                else
                {
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
                }
                w.Line($"{Unsafe}.Add(ref xoutRef, i) = sum;");
            }
        }
        w.Line();
    }

    /// <summary>
    /// The doc comment, signature, guards and references every matrix-vector kernel over rows [rowStart, rowEnd)
    /// starts with; the body goes inside the returned block.
    /// </summary>
    /// <param name="layout">How W is stored, for the summary; row-major in the declared precision unless given.</param>
    private static System.IDisposable MatVecHead(SourceWriter w, int d, int n, Precision p, int group, string name, string remarks, string? layout = null)
    {
        string precision = p switch { Precision.BFloat16 => "; W bfloat16", Precision.Int8 => $"; W int8 with one scale per {I(group)} weights", _ => "" };
        layout ??= $"W row-major{precision}. Rows are independent";
        w.Line($"/// <summary>xout[rowStart..rowEnd) = (W ({I(d)} x {I(n)}) @ x ({I(n)}))[rowStart..rowEnd); {layout}, so any split gives the same bits.</summary>");
        w.Line($"/// <remarks>{remarks}</remarks>");
        System.IDisposable block = w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {WeightsEmitter.MatrixParameters(p)}, int rowStart, int rowEnd)");
        w.Line($"const int Rows = {I(d)}, Cols = {I(n)};");
        var guards = new List<string> { "xout.Length < Rows", "x.Length < Cols", "w.Length < Rows * Cols", "rowStart < 0", "rowEnd > Rows" };
        if (p == Precision.Int8) guards.Add($"scales.Length < Rows * Cols / {I(group)}");
        Guard(w, name, guards.ToArray());
        Refs(w, "xout", "x");
        WeightRefs(w, p);
        return block;
    }

    private static void EmitMatVecResident(SourceWriter w, int d, int n, Precision p, int group, string name)
    {
        int pairEnd = n - n % 16;
        bool oddVector = n % 16 >= 8;
        int vectorEnd = n - n % 8;
        using (MatVecHead(w, d, n, p, group, name, "The model's weights fit in cache: four rows at a time share each load of x, 8 FMA chains."))
        {

            void RowBlock(int rows, string rowVar)
            {
                var r = new List<string>();
                for (int k = 0; k < rows; k++) r.Add(k == 0 ? $"r0 = (nuint){rowVar} * Cols" : $"r{k} = r{k - 1} + Cols");
                w.Line("nuint " + string.Join(", ", r) + ";");
                if (p == Precision.Int8)
                {
                    Int8RowBlock(w, rows, n, group);
                }
                else
                {
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

    /// <summary>
    /// The Q8_0 row block: per group, each row's products are summed in two float32 chains (8 in flight for four
    /// rows), then scaled once by the group's scale into the row's accumulator.
    /// </summary>
    private static void Int8RowBlock(SourceWriter w, int rows, int n, int group)
    {
        for (int k = 0; k < rows; k++)
            w.Line($"{VectorF} a{k} = {VectorF}.Zero, b{k} = {VectorF}.Zero;");
        using (w.Block($"for (nuint j = 0; j < {I(n)}; j += {I(group)})"))
        {
            for (int k = 0; k < rows; k++)
                w.Line($"{VectorF} g{k} = {VectorF}.Zero, h{k} = {VectorF}.Zero;");
            for (int v = 0; v < group / 8; v += 2)
            {
                w.Line($"{{ {VectorF} x0 = {Load("xRef", $"j + {I(8 * v)}")}, x1 = {Load("xRef", $"j + {I(8 * v + 8)}")};");
                for (int k = 0; k < rows; k++)
                {
                    w.Line($"g{k} = {Fma(WLoad(Precision.Int8, $"r{k} + j + {I(8 * v)}"), "x0", $"g{k}")};");
                    w.Line($"h{k} = {Fma(WLoad(Precision.Int8, $"r{k} + j + {I(8 * v + 8)}"), "x1", $"h{k}")};");
                }
                w.Line("}");
            }
            for (int k = 0; k < rows; k++)
                w.Line($"a{k} = {Fma($"g{k} + h{k}", $"{Vector}.Create({Unsafe}.Add(ref scalesRef, (r{k} + j) / {I(group)}))", $"a{k}")};");
        }
    }

    /// <summary>
    /// The batched (prompt) matrix product of a decoder model: for tokens t and the rows [rowStart, rowEnd) of W,
    /// xout[t, r] = W[r] · x[t], in the tiles of <see cref="MatMulTiles"/>.
    /// </summary>
    private static void EmitMatMulRows(SourceWriter w, int d, int n, Precision p, int group)
    {
        string name = MatMulName(d, n);
        string weights = WeightsEmitter.MatrixParameters(p);
        // Vector512 only where it measured faster (samples/KernelBenchmarks): widening bfloat16 sixteen at a time. On
        // this hardware (AMD Zen 4) a 512-bit FMA takes both 256-bit pipes, so float32 and Int8 tiles gain nothing and
        // lose to the horizontal sums of the wider accumulators.
        bool wide = n % 16 == 0 && p == Precision.BFloat16;
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; all row-major.</summary>");
        w.Line("/// <remarks>Four weight rows by four tokens per pass: each weight vector is loaded (and widened) once for four tokens, sixteen FMA");
        w.Line("/// chains. Rows outside, tokens inside, so the rows being used stay in L1. One chain per output, so sums associate");
        w.Line("/// differently from the matrix-vector kernel (within float32 rounding)." + (wide
            ? " With 512-bit vectors accelerated (a constant to the JIT and NativeAOT) the same tiles run on Vector512, widening sixteen bfloat16 at a time; results then differ from the Vector256 path in rounding only."
            : "") + "</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {weights}, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)};");
            var guards = new List<string> { "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "rowStart < 0", "rowEnd > Out" };
            if (p == Precision.Int8) guards.Add($"scales.Length < Out * In / {I(group)}");
            Guard(w, name, guards.ToArray());
            Refs(w, "xout", "x");
            WeightRefs(w, p);
            if (wide)
            {
                using (w.Block("if (global::System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)"))
                    MatMulTiles(w, n, p, group, 16);
                using (w.Block("else"))
                    MatMulTiles(w, n, p, group, 8);
            }
            else
            {
                MatMulTiles(w, n, p, group, 8);
            }
        }
        w.Line();
    }

    /// <summary>The tiled loops of <see cref="EmitMatMulRows"/> over vectors of <paramref name="lanes"/> floats (8 or 16).</summary>
    private static void MatMulTiles(SourceWriter w, int n, Precision p, int group, int lanes, bool bias = false)
    {
        string vec = lanes == 16 ? "global::System.Runtime.Intrinsics.Vector512" : Vector;
        string vt = vec + "<float>";
        int vectorEnd = n - n % lanes;
        // Only bfloat16 has a 16-lane path (see EmitMatMulRows).
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
                    w.Line($"{vt} wv{m} = {(p == Precision.Int8 ? $"{WideLoad($"w{m} + {j}")} * scale{m}" : WideLoad($"w{m} + {j}"))};");
                for (int k = 0; k < tokens; k++)
                {
                    w.Line($"{vt} xv{k} = {vec}.LoadUnsafe(ref xRef, x{k} + {j});");
                    for (int m = 0; m < rows; m++)
                        w.Line($"a{m}{k} = {vec}.FusedMultiplyAdd(wv{m}, xv{k}, a{m}{k});");
                }
            }
            if (p == Precision.Int8)
            {
                w.Line("// Weights are dequantised (q * scale) once per pass and used for every token.");
                using (w.Block($"for (nuint j = 0; j < In; j += {I(group)})"))
                {
                    for (int m = 0; m < rows; m++)
                        w.Line($"{vt} scale{m} = {vec}.Create({Unsafe}.Add(ref scalesRef, (w{m} + j) / {I(group)}));");
                    using (w.Block($"for (nuint v = j; v < j + {I(group)}; v += {I(lanes)})"))
                        Step("v");
                }
            }
            else if (vectorEnd > 0)
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
                    w.Line($"{Unsafe}.Add(ref xoutRef, (t + {I(k)}) * Out + r + {I(m)}) = s{m}{k}{(bias ? $" + {Unsafe}.Add(ref biasRef, r + {I(m)})" : "")};");
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

    private static void EmitMatMul(SourceWriter w, int d, int n)
    {
        string name = MatMulName(d, n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ + bias, for those rows of W; all row-major.</summary>");
        w.Line("/// <remarks>The tiles of the decoder's prompt kernel: four weight rows by four tokens, rows outside and tokens inside; the bias is added to each finished sum.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {ReadOnlySpan} w, {ReadOnlySpan} bias, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In", "bias.Length < Out", "rowStart < 0", "rowEnd > Out");
            Refs(w, "xout", "x", "w", "bias");
            MatMulTiles(w, n, Precision.Float32, 0, 8, bias: true);
        }
        w.Line();
    }

    /// <summary>
    /// The elementwise steps a prompt block runs on a worker's own rows inside a matrix job: any length (a range of
    /// rows), a vector loop and a tail. SwiGLU computes every element, the tail's too, with the vector exponential.
    /// </summary>
    private static void EmitRowKernels(SourceWriter w)
    {
        w.Line("/// <summary>y += x over y's length (a worker's rows of one token).</summary>");
        using (w.Block($"internal static void AddRows({Span} y, {ReadOnlySpan} x)"))
        {
            Guard(w, "AddRows", "x.Length < y.Length");
            Refs(w, "y", "x");
            w.Line("nuint n = (nuint)y.Length, j = 0;");
            w.Line($"for (; j + 8 <= n; j += 8) {Vector}.StoreUnsafe({Load("yRef", "j")} + {Load("xRef", "j")}, ref yRef, j);");
            w.Line($"for (; j < n; j++) {Unsafe}.Add(ref yRef, j) += {Unsafe}.Add(ref xRef, j);");
        }
        w.Line();
        w.Line("/// <summary>h = silu(h) * g over h's length (a worker's rows of one token), silu(x) = x / (1 + e^-x).</summary>");
        using (w.Block($"internal static void SwiGluRows({Span} h, {ReadOnlySpan} g)"))
        {
            Guard(w, "SwiGluRows", "g.Length < h.Length");
            Refs(w, "h", "g");
            w.Line("nuint n = (nuint)h.Length, j = 0;");
            using (w.Block("for (; j + 8 <= n; j += 8)"))
            {
                w.Line($"{VectorF} v = {Load("hRef", "j")};");
                w.Line($"{Vector}.StoreUnsafe(v / ({VectorF}.One + {Vector}.Exp(-v)) * {Load("gRef", "j")}, ref hRef, j);");
            }
            // The last n % 8 through one more vector too: every element gets the same vector exponential wherever a
            // worker's rows start or end, so the result does not depend on how the rows were split.
            using (w.Block("if (j < n)"))
            {
                w.Line($"{VectorF} v = {VectorF}.Zero, gv = {VectorF}.Zero;");
                w.Line($"for (nuint k = j; k < n; k++) {{ v = {Vector}.WithElement(v, (int)(k - j), {Unsafe}.Add(ref hRef, k)); gv = {Vector}.WithElement(gv, (int)(k - j), {Unsafe}.Add(ref gRef, k)); }}");
                w.Line($"{VectorF} r = v / ({VectorF}.One + {Vector}.Exp(-v)) * gv;");
                w.Line($"for (nuint k = j; k < n; k++) {Unsafe}.Add(ref hRef, k) = {Vector}.GetElement(r, (int)(k - j));");
            }
        }
        w.Line();
    }

    private static void EmitAdd(SourceWriter w, int n)
    {
        string name = AddName(n);
        w.Line($"/// <summary>y ({I(n)}) += x ({I(n)}).</summary>");
        using (w.Block($"internal static void {name}({Span} y, {ReadOnlySpan} x)"))
        {
            Guard(w, name, $"y.Length < {I(n)}", $"x.Length < {I(n)}");
            Refs(w, "y", "x");
            VectorLoop(w, n,
                [$"{Vector}.StoreUnsafe({Load("yRef", "j")} + {Load("xRef", "j")}, ref yRef, j);"],
                [$"{Unsafe}.Add(ref yRef, j) += {Unsafe}.Add(ref xRef, j);"]);
        }
        w.Line();
    }

    private static void EmitDot(SourceWriter w, int n)
    {
        string name = DotName(n);
        w.Line($"/// <summary>Returns a ({I(n)}) · b ({I(n)}).</summary>");
        w.Line("/// <remarks>Inlined into the attention loops, which call it once per cached position.</remarks>");
        w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
        using (w.Block($"internal static float {name}({ReadOnlySpan} a, {ReadOnlySpan} b)"))
        {
            Guard(w, name, $"a.Length < {I(n)}", $"b.Length < {I(n)}");
            Refs(w, "a", "b");
            w.Line($"{VectorF} acc = {VectorF}.Zero;");
            VectorLoop(w, n - n % 8, [$"acc = {Fma(Load("aRef", "j"), Load("bRef", "j"), "acc")};"], []);
            w.Line($"float sum = {Vector}.Sum(acc);");
            TailOnly(w, n, $"sum += {Unsafe}.Add(ref aRef, j) * {Unsafe}.Add(ref bRef, j);");
            w.Line("return sum;");
        }
        w.Line();
    }

    private static void TailOnly(SourceWriter w, int n, string body)
    {
        int vectorEnd = n - n % 8;
        if (vectorEnd == n) return;
        w.Line($"// Scalar tail: {I(n)} is not a multiple of 8.");
        using (w.Block($"for (nuint j = {I(vectorEnd)}; j < {I(n)}; j++)"))
            w.Line(body);
    }

    private static void EmitAxpy(SourceWriter w, int n)
    {
        string name = AxpyName(n);
        w.Line($"/// <summary>y ({I(n)}) += a * x ({I(n)}).</summary>");
        w.Line("/// <remarks>Inlined into the attention loops, which call it once per cached position.</remarks>");
        w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
        using (w.Block($"internal static void {name}({Span} y, float a, {ReadOnlySpan} x)"))
        {
            Guard(w, name, $"y.Length < {I(n)}", $"x.Length < {I(n)}");
            Refs(w, "y", "x");
            w.Line($"{VectorF} av = {Vector}.Create(a);");
            VectorLoop(w, n,
                [$"{Vector}.StoreUnsafe({Fma("av", Load("xRef", "j"), Load("yRef", "j"))}, ref yRef, j);"],
                [$"{Unsafe}.Add(ref yRef, j) += a * {Unsafe}.Add(ref xRef, j);"]);
        }
        w.Line();
    }

    private static void EmitRmsNorm(SourceWriter w, int n, float eps)
    {
        string name = "RmsNorm" + I(n);
        w.Line($"/// <summary>o ({I(n)}) = x / sqrt(mean(x²) + {Literal(eps)}) * weight; o may be x.</summary>");
        using (w.Block($"internal static void {name}({Span} o, {ReadOnlySpan} x, {ReadOnlySpan} weight)"))
        {
            Guard(w, name, $"o.Length < {I(n)}", $"x.Length < {I(n)}", $"weight.Length < {I(n)}");
            Refs(w, "o", "x", "weight");
            w.Line($"{VectorF} acc = {VectorF}.Zero;");
            int vectorEnd = n - n % 8;
            VectorLoop(w, vectorEnd, [$"{VectorF} v = {Load("xRef", "j")};", $"acc = {Fma("v", "v", "acc")};"], []);
            w.Line($"float ss = {Vector}.Sum(acc);");
            TailOnly(w, n, $"ss += {Unsafe}.Add(ref xRef, j) * {Unsafe}.Add(ref xRef, j);");
            w.Line($"float scale = 1f / {MathF}.Sqrt(ss / {I(n)} + {F(eps)});");
            w.Line($"{VectorF} sv = {Vector}.Create(scale);");
            VectorLoop(w, n,
                [$"{Vector}.StoreUnsafe({Load("weightRef", "j")} * ({Load("xRef", "j")} * sv), ref oRef, j);"],
                [$"{Unsafe}.Add(ref oRef, j) = {Unsafe}.Add(ref weightRef, j) * ({Unsafe}.Add(ref xRef, j) * scale);"]);
        }
        w.Line();
    }

    private static void EmitLayerNorm(SourceWriter w, int n, float eps)
    {
        string name = "LayerNorm" + I(n);
        int vectorEnd = n - n % 8;
        w.Line($"/// <summary>o ({I(n)}) = (x - mean(x)) / sqrt(var(x) + {Literal(eps)}) * weight + bias; o may be x.</summary>");
        using (w.Block($"internal static void {name}({Span} o, {ReadOnlySpan} x, {ReadOnlySpan} weight, {ReadOnlySpan} bias)"))
        {
            Guard(w, name, $"o.Length < {I(n)}", $"x.Length < {I(n)}", $"weight.Length < {I(n)}", $"bias.Length < {I(n)}");
            Refs(w, "o", "x", "weight", "bias");
            w.Line("// Two passes (mean, then variance about the mean), as PyTorch does, for accuracy.");
            w.Line($"{VectorF} acc = {VectorF}.Zero;");
            VectorLoop(w, vectorEnd, [$"acc += {Load("xRef", "j")};"], []);
            w.Line($"float sum = {Vector}.Sum(acc);");
            TailOnly(w, n, $"sum += {Unsafe}.Add(ref xRef, j);");
            w.Line($"float mean = sum / {I(n)};");
            w.Line($"{VectorF} mv = {Vector}.Create(mean);");
            w.Line($"acc = {VectorF}.Zero;");
            VectorLoop(w, vectorEnd, [$"{VectorF} c = {Load("xRef", "j")} - mv;", $"acc = {Fma("c", "c", "acc")};"], []);
            w.Line($"float ss = {Vector}.Sum(acc);");
            TailOnly(w, n, $"float c = {Unsafe}.Add(ref xRef, j) - mean; ss += c * c;");
            w.Line($"float scale = 1f / {MathF}.Sqrt(ss / {I(n)} + {F(eps)});");
            w.Line($"{VectorF} sv = {Vector}.Create(scale);");
            VectorLoop(w, n,
                [$"{Vector}.StoreUnsafe(({Load("xRef", "j")} - mv) * sv * {Load("weightRef", "j")} + {Load("biasRef", "j")}, ref oRef, j);"],
                [$"{Unsafe}.Add(ref oRef, j) = ({Unsafe}.Add(ref xRef, j) - mean) * scale * {Unsafe}.Add(ref weightRef, j) + {Unsafe}.Add(ref biasRef, j);"]);
        }
        w.Line();
    }

    private static void EmitSoftmax(SourceWriter w)
    {
        w.Line("/// <summary>x = softmax(x), in place; the length (positions attended) is known only at run time.</summary>");
        using (w.Block($"internal static void Softmax({Span} x)"))
        {
            w.Lines($$"""
                int n = x.Length;
                ref float xRef = ref {{Marshal}}.GetReference(x);
                nuint vectorEnd = (nuint)(n - n % 8);
                // Subtract the maximum before exponentiating, for numerical stability.
                {{VectorF}} mv = {{Vector}}.Create(float.NegativeInfinity);
                for (nuint j = 0; j < vectorEnd; j += 8) mv = {{Vector}}.Max(mv, {{Load("xRef", "j")}});
                float max = float.NegativeInfinity;
                for (int k = 0; k < 8; k++) max = {{MathF}}.Max(max, {{Vector}}.GetElement(mv, k));
                for (nuint j = vectorEnd; j < (nuint)n; j++) max = {{MathF}}.Max(max, {{Unsafe}}.Add(ref xRef, j));
                // e = exp(x - max); sum the e.
                mv = {{Vector}}.Create(max);
                {{VectorF}} sv = {{VectorF}}.Zero;
                for (nuint j = 0; j < vectorEnd; j += 8)
                {
                    {{VectorF}} e = {{Vector}}.Exp({{Load("xRef", "j")}} - mv);
                    {{Vector}}.StoreUnsafe(e, ref xRef, j);
                    sv += e;
                }
                float sum = {{Vector}}.Sum(sv);
                for (nuint j = vectorEnd; j < (nuint)n; j++)
                {
                    float e = {{MathF}}.Exp({{Unsafe}}.Add(ref xRef, j) - max);
                    {{Unsafe}}.Add(ref xRef, j) = e;
                    sum += e;
                }
                // Normalise.
                float inv = 1f / sum;
                {{VectorF}} iv = {{Vector}}.Create(inv);
                for (nuint j = 0; j < vectorEnd; j += 8) {{Vector}}.StoreUnsafe({{Load("xRef", "j")}} * iv, ref xRef, j);
                for (nuint j = vectorEnd; j < (nuint)n; j++) {{Unsafe}}.Add(ref xRef, j) *= inv;
                """);
        }
        w.Line();
    }

    private static void EmitRope(SourceWriter w, int headDim)
    {
        int half = headDim / 2;
        w.Line($"/// <summary>");
        w.Line($"/// Rotary embedding, rotate-half convention, of <paramref name=\"heads\"/> heads of {I(headDim)} in v at the position whose");
        w.Line($"/// tables (cos, sin: {I(half)} each) are given: (v[i], v[i + {I(half)}]) = (v[i] cos - v[i + {I(half)}] sin, v[i + {I(half)}] cos + v[i] sin).");
        w.Line($"/// </summary>");
        using (w.Block($"internal static void Rope({Span} v, int heads, {ReadOnlySpan} cos, {ReadOnlySpan} sin)"))
        {
            Guard(w, "Rope", $"v.Length < heads * {I(headDim)}", $"cos.Length < {I(half)}", $"sin.Length < {I(half)}");
            Refs(w, "cos", "sin");
            using (w.Block("for (int h = 0; h < heads; h++)"))
            {
                w.Line($"ref float head = ref {Unsafe}.Add(ref {Marshal}.GetReference(v), h * {I(headDim)});");
                VectorLoop(w, half,
                [
                    $"{VectorF} x1 = {Load("head", "j")}, x2 = {Load("head", $"j + {I(half)}")};",
                    $"{VectorF} c = {Load("cosRef", "j")}, s = {Load("sinRef", "j")};",
                    $"{Vector}.StoreUnsafe(x1 * c - x2 * s, ref head, j);",
                    $"{Vector}.StoreUnsafe(x2 * c + x1 * s, ref head, j + {I(half)});",
                ],
                [
                    $"float x1 = {Unsafe}.Add(ref head, j), x2 = {Unsafe}.Add(ref head, j + {I(half)});",
                    $"float c = {Unsafe}.Add(ref cosRef, j), s = {Unsafe}.Add(ref sinRef, j);",
                    $"{Unsafe}.Add(ref head, j) = x1 * c - x2 * s;",
                    $"{Unsafe}.Add(ref head, j + {I(half)}) = x2 * c + x1 * s;",
                ]);
            }
        }
        w.Line();
    }

    private static void EmitActivation(SourceWriter w, Act activation, int n)
    {
        string name = activation + I(n);
        switch (activation)
        {
            case Act.SwiGlu:
                w.Line($"/// <summary>h ({I(n)}) = silu(h) * g ({I(n)}), silu(x) = x / (1 + e^-x).</summary>");
                using (w.Block($"internal static void {name}({Span} h, {ReadOnlySpan} g)"))
                {
                    Guard(w, name, $"h.Length < {I(n)}", $"g.Length < {I(n)}");
                    Refs(w, "h", "g");
                    VectorLoop(w, n,
                        [$"{VectorF} v = {Load("hRef", "j")};", $"{Vector}.StoreUnsafe(v / ({VectorF}.One + {Vector}.Exp(-v)) * {Load("gRef", "j")}, ref hRef, j);"],
                        [$"float v = {Unsafe}.Add(ref hRef, j);", $"{Unsafe}.Add(ref hRef, j) = v / (1f + {MathF}.Exp(-v)) * {Unsafe}.Add(ref gRef, j);"]);
                }
                break;
            case Act.GeluTanh:
                w.Line($"/// <summary>x ({I(n)}) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).</summary>");
                using (w.Block($"internal static void {name}({Span} x)"))
                {
                    Guard(w, name, $"x.Length < {I(n)}");
                    Refs(w, "x");
                    w.Line($"{VectorF} k = {Vector}.Create(0.7978845608028654f), c = {Vector}.Create(0.044715f), half = {Vector}.Create(0.5f), two = {Vector}.Create(2f);");
                    w.Line("// tanh(u) = 1 - 2 / (e^(2u) + 1): exact at both tails (e^(2u) = inf gives 1, 0 gives -1).");
                    VectorLoop(w, n,
                    [
                        $"{VectorF} v = {Load("xRef", "j")};",
                        $"{VectorF} u = k * (v + c * v * v * v);",
                        $"{VectorF} t = {VectorF}.One - two / ({Vector}.Exp(two * u) + {VectorF}.One);",
                        $"{Vector}.StoreUnsafe(half * v * ({VectorF}.One + t), ref xRef, j);",
                    ],
                    [
                        $"float v = {Unsafe}.Add(ref xRef, j);",
                        $"{Unsafe}.Add(ref xRef, j) = 0.5f * v * (1f + {MathF}.Tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));",
                    ]);
                }
                break;
            case Act.Gelu:
                w.Line($"/// <summary>x ({I(n)}) = x Φ(x) = 0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz and Stegun 7.1.26 (|error| &lt; 1.5e-7).</summary>");
                using (w.Block($"internal static void {name}({Span} x)"))
                {
                    Guard(w, name, $"x.Length < {I(n)}");
                    Refs(w, "x");
                    w.Line($"{VectorF} half = {Vector}.Create(0.5f), rsqrt2 = {Vector}.Create(0.7071067811865476f), p = {Vector}.Create(0.3275911f);");
                    w.Line($"{VectorF} a1 = {Vector}.Create(0.254829592f), a2 = {Vector}.Create(-0.284496736f), a3 = {Vector}.Create(1.421413741f), a4 = {Vector}.Create(-1.453152027f), a5 = {Vector}.Create(1.061405429f);");
                    VectorLoop(w, n,
                    [
                        $"{VectorF} v = {Load("xRef", "j")};",
                        $"{VectorF} z = v * rsqrt2, az = {Vector}.Abs(z);",
                        $"{VectorF} t = {VectorF}.One / ({VectorF}.One + p * az);",
                        $"{VectorF} poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))));",
                        $"{VectorF} y = {VectorF}.One - poly * {Vector}.Exp(-az * az);",
                        $"{VectorF} erf = {Vector}.ConditionalSelect({Vector}.LessThan(z, {VectorF}.Zero), -y, y);",
                        $"{Vector}.StoreUnsafe(half * v * ({VectorF}.One + erf), ref xRef, j);",
                    ],
                    [
                        $"float v = {Unsafe}.Add(ref xRef, j);",
                        $"{Unsafe}.Add(ref xRef, j) = 0.5f * v * (1f + global::SourceGenTransformer.Runtime.ScalarKernels.Erf(v * 0.7071067811865476f));",
                    ]);
                }
                break;
            case Act.Relu:
                w.Line($"/// <summary>x ({I(n)}) = max(0, x).</summary>");
                using (w.Block($"internal static void {name}({Span} x)"))
                {
                    Guard(w, name, $"x.Length < {I(n)}");
                    Refs(w, "x");
                    VectorLoop(w, n,
                        [$"{Vector}.StoreUnsafe({Vector}.Max({Load("xRef", "j")}, {VectorF}.Zero), ref xRef, j);"],
                        [$"{Unsafe}.Add(ref xRef, j) = {MathF}.Max(0f, {Unsafe}.Add(ref xRef, j));"]);
                }
                break;
        }
        w.Line();
    }
}
