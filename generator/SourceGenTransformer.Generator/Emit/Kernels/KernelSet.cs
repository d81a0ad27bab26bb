using System.Collections.Generic;
using System.Globalization;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>The kernels' names, which the forward passes call and the kernel emitters declare.</summary>
internal static class KernelNames
{
    public static string MatVec(int d, int n) => $"MatVec{d}x{n}";

    public static string MatMul(int d, int n) => $"MatMul{d}x{n}";

    public static string Add(int n) => $"Add{n}";

    public static string Dot(int n) => $"Dot{n}";

    public static string Axpy(int n) => $"Axpy{n}";

    public static string Norm(ModelShape s) => (s.Normalization == Model.Norm.RmsNorm ? "RmsNorm" : "LayerNorm") + s.ModelDim.ToString(CultureInfo.InvariantCulture);

    public static string Activation(ModelShape s) => s.Activation + s.FeedForwardDim.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The kernels one model calls, collected as the forward passes ask for them, then written as one static class: one
/// method per operation and shape, every trip count a constant, each first doc line the kernel's contract.
/// </summary>
/// <remarks>
/// <para>The one unrolling policy, which every kernel emitter follows: loops step by <c>Vector256&lt;float&gt;.Count</c>
/// (8) with the trip count a constant; a scalar tail exists only where a dimension is not a multiple of 8. Float32
/// matrices whose row count is a multiple of 32 are stored in panels and multiplied as outer products over register
/// tiles (<see cref="PanelEmitter"/>). The other float matrices (other row counts, bfloat16) are row-major: the
/// matrix-vector product reads one row at a time front to back (one memory stream per thread: interleaving 2 or 4 rows
/// measured 30-40% slower here) with 4 FMA chains over blocks of 32 columns, or 4 rows at a time where the model fits
/// in cache (<see cref="MatVecEmitter"/>); the matrix-matrix product takes 4 weight rows by 4 tokens, 16 chains
/// (<see cref="MatMulEmitter"/>). Int8 matrices, in panels of sixteen rows, multiply in integers against an input
/// quantised to 8 bits (<see cref="IntegerEmitter"/>); Q4_0 and Q4K models' matrices, in ggml blocks in panels of eight
/// rows, as integer outer products too (<see cref="BlockEmitter"/>: one kernel per block type and a dispatcher per shape). Other kernels are single vector loops: they are bound by memory, not by FMA latency.
/// Nothing is unrolled across layers: layers share code.</para>
/// <para>Kernels that depend on no shape (a softmax over a run-time length, elementwise steps over a worker's rows) are
/// not emitted: they live in the runtime library, <c>SourceGenTransformer.Runtime.Ops</c>.</para>
/// </remarks>
internal sealed class KernelSet(ModelShape s)
{
    private enum Kind { MatVec, ClassifierRows, MatMul, MatMulBias, Add, Norm, HeadNorm, Activation, Rope, AttendHead, AttendHeadAt, LayOutKeys, LayOutKeysAt, AttendBlock }

    private readonly List<(Kind Kind, int D, int N)> _wanted = [];

    private string Want(Kind kind, int d, int n, string name)
    {
        if (!_wanted.Contains((kind, d, n))) _wanted.Add((kind, d, n));
        return name;
    }

    /// <summary>xout (d) = W (d x n) @ x: decoding's product (over rows [rowStart, rowEnd) or every row).</summary>
    public string MatVec(int d, int n) => Want(Kind.MatVec, d, n, KernelNames.MatVec(d, n));

    /// <summary>
    /// The decoder's classifier: the matrix-vector kernel of its shape, except for a tied float32 classifier (row-major:
    /// it is the token embedding, which the embedding lookup reads by rows) whose shape would otherwise get panels.
    /// </summary>
    public string Classifier() => s.ClassifierRowsKernel
        ? Want(Kind.ClassifierRows, s.VocabSize, s.ModelDim, KernelNames.MatVec(s.VocabSize, s.ModelDim) + "Rows")
        : MatVec(s.VocabSize, s.ModelDim);

    /// <summary>xout (tokens x d) = x (tokens x n) @ Wᵀ (+ bias in the encoder families).</summary>
    public string MatMul(int d, int n) => Want(s.IsDecoderOnly ? Kind.MatMul : Kind.MatMulBias, d, n, KernelNames.MatMul(d, n));

    public string Add(int n) => Want(Kind.Add, n, 0, KernelNames.Add(n));

    public string Norm() => Want(Kind.Norm, 0, 0, KernelNames.Norm(s));

    public string Activation() => Want(Kind.Activation, 0, 0, KernelNames.Activation(s));

    /// <summary>The RMSNorm over one head (Qwen3's q_norm and k_norm): the model's norm where a head is as wide as the model.</summary>
    public string HeadNorm() => s.HeadDim == s.ModelDim ? Norm() : Want(Kind.HeadNorm, s.HeadDim, 0, "RmsNorm" + s.HeadDim.ToString(CultureInfo.InvariantCulture));

    public string Rope() => Want(Kind.Rope, 0, 0, "Rope");

    /// <summary>One query against keys and values at positions 0..count (or, <paramref name="listed"/>, at given positions).</summary>
    public string AttendHead(bool listed = false) => listed ? Want(Kind.AttendHeadAt, 0, 0, "AttendHeadAt") : Want(Kind.AttendHead, 0, 0, "AttendHead");

    /// <summary>Lays a head's keys and values out for <see cref="AttendBlock"/>.</summary>
    public string LayOutKeys(bool listed = false) => listed ? Want(Kind.LayOutKeysAt, 0, 0, "LayOutKeysAt") : Want(Kind.LayOutKeys, 0, 0, "LayOutKeys");

    /// <summary>Many queries of one head against keys laid out by <see cref="LayOutKeys"/>.</summary>
    public string AttendBlock() => Want(Kind.AttendBlock, 0, 0, "AttendBlock");

    /// <summary>Writes the Kernels class holding every kernel asked for, in the order first asked.</summary>
    public void Emit(SourceWriter w, string className)
    {
        w.Line("/// <summary>The kernels of this model, specialised to its constant shapes.</summary>");
        w.Line("/// <remarks>");
        w.Line("/// Loops step by Vector256&lt;float&gt;.Count with constant trip counts; a scalar tail exists only where a dimension");
        w.Line("/// is not a multiple of 8. Float32 matrices of 32k rows are in panels of 32 rows, column by column: MatMul keeps 32 rows by");
        w.Line("/// 12 tokens in registers (Vector512; 16 by 6 on Vector256), MatVec streams the panels. Row-major MatVec reads one row at a");
        w.Line("/// time with 4 FMA chains; row-major MatMul takes 4 rows by 4 tokens (16 chains).");
        w.Line("/// </remarks>");
        w.Line(GeneratedCode);
        using (w.Block($"internal static class {className}"))
        {
            bool padded = false, attention = false;
            foreach ((Kind kind, int d, int n) in _wanted)
            {
                switch (kind)
                {
                    case Kind.MatVec when s.BlockMatrices:
                        BlockEmitter.EmitMatVec(w, s, d, n);
                        break;
                    case Kind.MatVec:
                        MatVecEmitter.Emit(w, s, d, n, s.Panels(d));
                        break;
                    case Kind.ClassifierRows:
                        MatVecEmitter.Emit(w, s, d, n, panels: false, KernelNames.MatVec(d, n) + "Rows");
                        break;
                    case Kind.MatMul:
                    case Kind.MatMulBias:
                        bool bias = kind == Kind.MatMulBias;
                        if (s.Panels(d)) PanelEmitter.EmitMatMul(w, d, n, bias);
                        else if (bias) MatMulEmitter.EmitWithBias(w, d, n);
                        else if (s.BlockMatrices) BlockEmitter.EmitMatMul(w, s, d, n);
                        else if (s.Precision == Precision.Int8) IntegerEmitter.EmitInt8MatMul(w, d, n);
                        else MatMulEmitter.EmitRows(w, d, n, s.Precision);
                        padded |= s.Panels(d) && PanelEmitter.PadsInput(n);
                        break;
                    case Kind.Add:
                        ElementwiseEmitter.EmitAdd(w, d);
                        break;
                    case Kind.Norm:
                        if (s.Normalization == Model.Norm.RmsNorm) ElementwiseEmitter.EmitRmsNorm(w, s.ModelDim, s.NormEpsilon);
                        else ElementwiseEmitter.EmitLayerNorm(w, s.ModelDim, s.NormEpsilon);
                        break;
                    case Kind.HeadNorm:
                        ElementwiseEmitter.EmitRmsNorm(w, d, s.NormEpsilon);
                        break;
                    case Kind.Activation:
                        ElementwiseEmitter.EmitActivation(w, s.Activation, s.FeedForwardDim);
                        break;
                    case Kind.Rope:
                        ElementwiseEmitter.EmitRope(w, s.HeadDim, s.RopeDim);
                        break;
                    default:
                        attention = true; // the attention kernels are written together, below
                        break;
                }
            }
            if (padded) PanelEmitter.EmitPaddedInput(w);
            if (!attention) return;
            AttentionKernelsEmitter.Emit(w, s,
                _wanted.Contains((Kind.AttendHead, 0, 0)), _wanted.Contains((Kind.AttendHeadAt, 0, 0)),
                _wanted.Contains((Kind.LayOutKeys, 0, 0)), _wanted.Contains((Kind.LayOutKeysAt, 0, 0)));
            if (!AttentionKernelsEmitter.InRegisters(s))
            {
                // Only heads too wide (or not a multiple of 8) to keep in registers call these.
                ElementwiseEmitter.EmitDot(w, s.HeadDim);
                ElementwiseEmitter.EmitAxpy(w, s.HeadDim);
            }
        }
    }
}
