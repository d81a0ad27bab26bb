using System;
using SourceGenTransformer.Generator.Helpers;

namespace SourceGenTransformer.Generator.Model;

/// <summary>
/// One <c>[Transformer]</c> declaration as plain values: what the syntax transform reads from symbols, before any
/// config.json is joined to it. Value-equal, so that an edit that leaves the declaration alone leaves it cached.
/// </summary>
internal sealed record Declaration(
    string? Namespace,
    string ClassName,
    EquatableArray<string> ContainingTypes,
    string DisplayName,
    int Family,
    LocationInfo? FamilyLocation,
    EquatableArray<Argument> Arguments,
    LocationInfo? Location,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>
/// One named property of the declaration (<c>Name = value</c>): an int (enums too), float, bool or string, and
/// where it was written: the attribute argument, or the config.json value that decided it.
/// </summary>
internal sealed record Argument(string Name, object? Value, LocationInfo? Location);

/// <summary>One of the compilation's AdditionalFiles: its path and text.</summary>
internal sealed record ProjectFile(string Path, string Text);
