using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>
/// Reads the parts of a Hugging Face <c>tokenizer.json</c>, each error naming the file, the JSON path of the value and
/// what was expected, so that an unsupported part of a file is refused by name rather than tokenized differently.
/// </summary>
internal readonly struct TokenizerJsonReader(string source)
{
    public string Source { get; } = source;

    public InvalidDataException Error(string path, string message) => new($"{Source}: {path}: {message}");

    public InvalidDataException Unsupported(string path, string kind, string? type, string supported) =>
        Error(path, $"the {kind} '{type}' is not supported (supported: {supported}).");

    public string? Type(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()
            : throw Error(path, "expected an object with a string \"type\".");

    public bool Has(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null;

    public string String(JsonElement e, string name, string path, string? fallback = null)
    {
        if (e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String) return v.GetString()!;
        if (fallback is not null && (!e.TryGetProperty(name, out v) || v.ValueKind == JsonValueKind.Null)) return fallback;
        throw Error($"{path}.{name}", "expected a string.");
    }

    public string? OptionalString(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error($"{path}.{name}", "expected a string or null.");
    }

    public bool Bool(JsonElement e, string name, string path, bool fallback)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"{path}.{name}", "expected true or false."),
        };
    }

    public int Int(JsonElement e, string name, string path, int? fallback = null)
    {
        if (e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)) return n;
        if (fallback is int f && (!e.TryGetProperty(name, out v) || v.ValueKind == JsonValueKind.Null)) return f;
        throw Error($"{path}.{name}", "expected an integer.");
    }

    public JsonElement Array(JsonElement e, string name, string path)
    {
        if (e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Array) return v;
        throw Error($"{path}.{name}", "expected an array.");
    }

    /// <summary>The parts of a <c>Sequence</c> (its array <paramref name="name"/>), each read by <paramref name="read"/>; null parts are left out.</summary>
    public List<T> Parts<T>(JsonElement e, string name, string path, Func<JsonElement, TokenizerJsonReader, string, T?> read) where T : class
    {
        var parts = new List<T>();
        int i = 0;
        foreach (JsonElement part in Array(e, name, path).EnumerateArray())
            if (read(part, this, $"{path}.{name}[{i++}]") is { } one) parts.Add(one);
        return parts;
    }

    /// <summary>A <c>{"String": s}</c> or <c>{"Regex": r}</c> pattern, as a .NET regular expression.</summary>
    public HfRegex Pattern(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out JsonElement p) || p.ValueKind != JsonValueKind.Object)
            throw Error($"{path}.{name}", "expected {\"String\": ...} or {\"Regex\": ...}.");
        if (p.TryGetProperty("String", out JsonElement s) && s.ValueKind == JsonValueKind.String)
            return HfRegex.Literal(s.GetString()!);
        if (p.TryGetProperty("Regex", out JsonElement r) && r.ValueKind == JsonValueKind.String)
        {
            try
            {
                return HfRegex.Create(r.GetString()!);
            }
            catch (ArgumentException x)
            {
                throw Error($"{path}.{name}.Regex", $"the regular expression does not compile in .NET ({x.Message}).");
            }
        }
        throw Error($"{path}.{name}", "expected {\"String\": ...} or {\"Regex\": ...}.");
    }
}
