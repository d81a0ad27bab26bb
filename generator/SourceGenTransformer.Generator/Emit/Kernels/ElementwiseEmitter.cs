using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels over one vector of a constant length: residual adds, the dot and axpy of wide attention heads, the
/// norms, the rotary embedding and the activations. Single vector loops: they are bound by memory, not by FMA latency.
/// </summary>
internal static class ElementwiseEmitter
{
    public static void EmitAdd(SourceWriter w, int n)
    {
        string name = KernelNames.Add(n);
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

    public static void EmitDot(SourceWriter w, int n)
    {
        string name = KernelNames.Dot(n);
        w.Line($"/// <summary>Returns a ({I(n)}) · b ({I(n)}).</summary>");
        w.Line("/// <remarks>Inlined into the attention loops, which call it once per cached position.</remarks>");
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
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

    public static void EmitAxpy(SourceWriter w, int n)
    {
        string name = KernelNames.Axpy(n);
        w.Line($"/// <summary>y ({I(n)}) += a * x ({I(n)}).</summary>");
        w.Line("/// <remarks>Inlined into the attention loops, which call it once per cached position.</remarks>");
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
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

    public static void EmitRmsNorm(SourceWriter w, int n, float eps)
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

    public static void EmitLayerNorm(SourceWriter w, int n, float eps)
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

    public static void EmitRope(SourceWriter w, int headDim, int ropeDim)
    {
        int half = ropeDim / 2;
        w.Line($"/// <summary>");
        w.Line($"/// Rotary embedding, rotate-half convention, of <paramref name=\"heads\"/> heads of {I(headDim)} in v at the position whose");
        w.Line($"/// tables (cos, sin: {I(half)} each) are given: (v[i], v[i + {I(half)}]) = (v[i] cos - v[i + {I(half)}] sin, v[i + {I(half)}] cos + v[i] sin).");
        if (ropeDim != headDim)
            w.Line($"/// Only the first {I(ropeDim)} dimensions of each head rotate (partial_rotary_factor); the other {I(headDim - ropeDim)} pass through.");
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

    public static void EmitActivation(SourceWriter w, Act activation, int n)
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
            case Act.GeGlu:
                w.Line($"/// <summary>h ({I(n)}) = gelu_tanh(h) * g ({I(n)}), gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).</summary>");
                using (w.Block($"internal static void {name}({Span} h, {ReadOnlySpan} g)"))
                {
                    Guard(w, name, $"h.Length < {I(n)}", $"g.Length < {I(n)}");
                    w.Line("Ops.GeGluRows(h.Slice(0, " + I(n) + "), g); // the same vector arithmetic as the prompt blocks' rows");
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
                        $"{Unsafe}.Add(ref xRef, j) = 0.5f * v * (1f + ScalarKernels.Erf(v * 0.7071067811865476f));",
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
