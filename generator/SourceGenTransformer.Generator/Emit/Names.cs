using System.Globalization;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>Fully qualified names used by the emitted code (inside the user's type, everything is global::-qualified).</summary>
internal static class Names
{
    public const string Span = "global::System.Span<float>";
    public const string ReadOnlySpan = "global::System.ReadOnlySpan<float>";

    /// <summary>A read-only span over <paramref name="length"/> floats of <paramref name="array"/> from <paramref name="offset"/>.</summary>
    public static string Ro(string array, string offset, string length) => $"new {ReadOnlySpan}({array}, {offset}, {length})";

    /// <summary>A writable span over <paramref name="length"/> floats of <paramref name="array"/> from <paramref name="offset"/>.</summary>
    public static string Rw(string array, string offset, string length) => $"new {Span}({array}, {offset}, {length})";
    public const string Vector = "global::System.Runtime.Intrinsics.Vector256";
    public const string VectorF = "global::System.Runtime.Intrinsics.Vector256<float>";
    public const string Marshal = "global::System.Runtime.InteropServices.MemoryMarshal";
    public const string Unsafe = "global::System.Runtime.CompilerServices.Unsafe";
    public const string MathF = "global::System.MathF";
    public const string Packing = "global::SourceGenTransformer.Runtime.WeightPacking";
    public const string Errors = "global::SourceGenTransformer.Runtime.TransformerErrors";
    public const string GeneratedCode = "[global::System.CodeDom.Compiler.GeneratedCode(\"SourceGenTransformer\", \"0.1.0\")]";

    /// <summary>A float as a round-trippable, culture-invariant C# literal without the suffix.</summary>
    public static string Literal(float value) => value.ToString("R", CultureInfo.InvariantCulture);
}
