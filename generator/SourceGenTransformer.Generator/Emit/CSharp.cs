using System.Globalization;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// How the emitted code spells things. The engine file (<c>X.Kernels.g.cs</c>) lives in a namespace of its own with
/// <c>using</c> directives, so these are short names; the user's file (<c>X.Transformer.g.cs</c>) writes every name
/// <c>global::</c>-qualified instead (see <see cref="Global"/>).
/// </summary>
internal static class CSharp
{
    public const string Span = "Span<float>";
    public const string ReadOnlySpan = "ReadOnlySpan<float>";
    public const string Vector = "Vector256";
    public const string VectorF = "Vector256<float>";
    public const string Vector512 = "Vector512";
    public const string Marshal = "MemoryMarshal";
    public const string Unsafe = "Unsafe";
    public const string MathF = "MathF";
    public const string Packing = "WeightPacking";
    public const string Errors = "TransformerErrors";
    public const string GeneratedCode = "[GeneratedCode(\"SourceGenTransformer\", \"0.1.0\")]";

    /// <summary>The <c>using</c> directives of the engine file, inside its namespace (so nothing of the user's can shadow them).</summary>
    public static readonly string[] EngineUsings =
    [
        "global::System",
        "global::System.CodeDom.Compiler",
        "global::System.Runtime.CompilerServices",
        "global::System.Runtime.InteropServices",
        "global::System.Runtime.Intrinsics",
        "global::SourceGenTransformer",
        "global::SourceGenTransformer.Runtime",
    ];

    /// <summary>Names as the user's file writes them: its namespace is the user's, where nothing may be assumed.</summary>
    public static class Global
    {
        public const string Runtime = "global::SourceGenTransformer.Runtime.";
        public const string Library = "global::SourceGenTransformer.";
        public const string ReadOnlySpanFloat = "global::System.ReadOnlySpan<float>";
        public const string ReadOnlySpanInt = "global::System.ReadOnlySpan<int>";
        public const string Errors = "global::SourceGenTransformer.Runtime.TransformerErrors";
        public const string GeneratedCode = "[global::System.CodeDom.Compiler.GeneratedCode(\"SourceGenTransformer\", \"0.1.0\")]";
    }

    public static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string L(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A float as a round-trippable, culture-invariant C# literal without the suffix.</summary>
    public static string Literal(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary><c>a + k</c>, or just <c>a</c> when k is 0: generated index arithmetic without "+ 0".</summary>
    public static string Plus(string a, int k) => k == 0 ? a : $"{a} + {I(k)}";

    /// <summary><c>k * a</c>, or nothing useful left out: "0" for 0, <c>a</c> for 1.</summary>
    public static string Times(int k, string a) => k == 0 ? "0" : k == 1 ? a : $"{I(k)} * {a}";

    /// <summary>A float literal with its suffix.</summary>
    public static string F(float value) => Literal(value) + "f";

    /// <summary>A span over <paramref name="length"/> floats of <paramref name="array"/> from <paramref name="offset"/>.</summary>
    public static string Sp(string array, string offset, string length) => $"{array}.AsSpan({offset}, {length})";
}
