using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace SourceGenTransformer.Generator.Helpers;

/// <summary>
/// A location as plain values, so it can sit in a cached spec (a <see cref="Location"/> holds a
/// syntax tree and would keep the compilation alive and defeat caching).
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>A diagnostic as plain values: the descriptor, where, and the message arguments.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor, location, new EquatableArray<string>(arguments));

    public Diagnostic ToDiagnostic()
    {
        var args = new object[Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
        return Diagnostic.Create(Descriptor, Location?.ToLocation(), args);
    }
}

/// <summary>
/// The outcome of parsing one declaration: a value (null when an error stopped it), its diagnostics,
/// and where the attribute is, for diagnostics found later in the pipeline.
/// </summary>
internal sealed record Result<T>(T? Value, EquatableArray<DiagnosticInfo> Diagnostics, LocationInfo? Location)
    where T : class;
