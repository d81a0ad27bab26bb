using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace SourceGenTransformer.Text.Json;

/// <summary>The kinds of grammar node a JSON schema compiles to.</summary>
internal enum NodeKind { Literal, Sequence, Choice, String, Number, Integer, Array, Map }

/// <summary>
/// One node of the grammar of compact JSON documents (no whitespace outside strings) that a schema allows: a literal,
/// a sequence, a choice, a string, a number, an array of items, or a map of string keys to values.
/// </summary>
internal sealed class GrammarNode
{
    public required NodeKind Kind { get; init; }
    public string Text { get; init; } = "";
    public GrammarNode[] Children { get; init; } = [];
    public GrammarNode? Item { get; set; }
    public int MinItems { get; init; }
    public int MaxItems { get; init; } = -1;
    public int Id { get; set; } = -1;

    /// <summary>The fewest characters a document of this node has.</summary>
    public int MinLength { get; set; } = -1;

    public static GrammarNode Literal(string text) => new() { Kind = NodeKind.Literal, Text = text };
    public static GrammarNode Sequence(params GrammarNode[] children) => new() { Kind = NodeKind.Sequence, Children = children };
    public static GrammarNode Choice(params GrammarNode[] children) => children.Length == 1 ? children[0] : new() { Kind = NodeKind.Choice, Children = children };
    public static GrammarNode String() => new() { Kind = NodeKind.String };
}

/// <summary>
/// Compiles a JSON schema into a <see cref="GrammarNode"/> tree. Supported: <c>type</c> (one or a list), <c>enum</c>,
/// <c>const</c>, <c>properties</c> with <c>required</c> (every listed property is written, in the schema's order),
/// <c>items</c> with <c>minItems</c>/<c>maxItems</c>, <c>anyOf</c>/<c>oneOf</c>, a one-schema <c>allOf</c>, <c>$ref</c>
/// into <c>$defs</c>/<c>definitions</c>, and the annotations (description, title, default...). A schema without a type is
/// any JSON value, nested at most <see cref="AnyDepth"/> deep. Any other keyword is a <see cref="NotSupportedException"/>
/// naming it and where it is, because a constraint that ignored it would let through documents that do not validate.
/// </summary>
internal sealed class JsonSchemaCompiler
{
    public const int AnyDepth = 5;

    private static readonly HashSet<string> s_annotations =
    [
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly", "deprecated",
        "additionalProperties", "$defs", "definitions", "unevaluatedProperties",
    ];

    private readonly JsonElement _root;
    private readonly Dictionary<int, GrammarNode> _any = [];
    private int _refDepth;

    private JsonSchemaCompiler(JsonElement root) => _root = root;

    /// <summary>The grammar of the documents <paramref name="schema"/> allows (null: any JSON value).</summary>
    public static GrammarNode Compile(JsonElement? schema)
    {
        if (schema is not { } s) return new JsonSchemaCompiler(default).Any(AnyDepth);
        return new JsonSchemaCompiler(s).Node(s, "#");
    }

    /// <summary>
    /// The grammar of one Hermes-style tool call: <paramref name="prefix"/>, then <c>{"name":"f","arguments":{...}}</c> for
    /// one of the functions, its arguments as its parameter schema allows, then <paramref name="suffix"/>.
    /// </summary>
    public static GrammarNode ToolCall(IEnumerable<(string Name, JsonElement Parameters)> functions, string prefix, string suffix)
    {
        var calls = functions.Select(f => GrammarNode.Sequence(
            GrammarNode.Literal("{\"name\":" + Quote(f.Name) + ",\"arguments\":"),
            new JsonSchemaCompiler(f.Parameters).Node(f.Parameters, $"#({f.Name})"),
            GrammarNode.Literal("}"))).ToArray();
        if (calls.Length == 0) throw new ArgumentException("There are no functions to call.", nameof(functions));
        return GrammarNode.Sequence(GrammarNode.Literal(prefix), GrammarNode.Choice(calls), GrammarNode.Literal(suffix));
    }

    private GrammarNode Node(JsonElement s, string path)
    {
        if (s.ValueKind == JsonValueKind.True) return Any(AnyDepth);
        if (s.ValueKind == JsonValueKind.False) throw new NotSupportedException($"The JSON schema at {path} is false: no document satisfies it.");
        if (s.ValueKind != JsonValueKind.Object) throw new NotSupportedException($"The JSON schema at {path} is not an object.");

        if (s.TryGetProperty("$ref", out JsonElement r)) return Ref(r, path);
        if (s.TryGetProperty("const", out JsonElement c)) return GrammarNode.Literal(Compact(c));
        if (s.TryGetProperty("enum", out JsonElement e))
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0)
                throw new NotSupportedException($"The JSON schema's enum at {path} is not a non-empty array.");
            return GrammarNode.Choice(e.EnumerateArray().Select(v => GrammarNode.Literal(Compact(v))).Distinct(new LiteralComparer()).ToArray());
        }
        foreach (string combinator in new[] { "anyOf", "oneOf" })
        {
            if (!s.TryGetProperty(combinator, out JsonElement alternatives)) continue;
            CheckKeywords(s, path, combinator);
            return GrammarNode.Choice(alternatives.EnumerateArray().Select((a, i) => Node(a, $"{path}/{combinator}/{i}")).ToArray());
        }
        if (s.TryGetProperty("allOf", out JsonElement all))
        {
            if (all.GetArrayLength() != 1) throw new NotSupportedException($"The JSON schema at {path} combines {all.GetArrayLength()} schemas with allOf; only one is supported.");
            CheckKeywords(s, path, "allOf");
            return Node(all[0], $"{path}/allOf/0");
        }

        string[] types = Types(s, path);
        if (types.Length == 0)
        {
            CheckKeywords(s, path);
            return Any(AnyDepth);
        }
        return GrammarNode.Choice(types.Select(t => Typed(s, t, path)).ToArray());
    }

    private static string[] Types(JsonElement s, string path)
    {
        if (!s.TryGetProperty("type", out JsonElement t))
        {
            if (s.TryGetProperty("properties", out _)) return ["object"];
            if (s.TryGetProperty("items", out _)) return ["array"];
            return [];
        }
        if (t.ValueKind == JsonValueKind.String) return [t.GetString()!];
        if (t.ValueKind == JsonValueKind.Array && t.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
            return t.EnumerateArray().Select(x => x.GetString()!).Distinct().ToArray();
        throw new NotSupportedException($"The JSON schema's type at {path} is neither a string nor a list of strings.");
    }

    private GrammarNode Typed(JsonElement s, string type, string path)
    {
        switch (type)
        {
            case "null":
                return GrammarNode.Literal("null");
            case "boolean":
                return GrammarNode.Choice(GrammarNode.Literal("true"), GrammarNode.Literal("false"));
            case "integer":
                CheckKeywords(s, path);
                return new GrammarNode { Kind = NodeKind.Integer };
            case "number":
                CheckKeywords(s, path);
                return new GrammarNode { Kind = NodeKind.Number };
            case "string":
                CheckKeywords(s, path);
                return GrammarNode.String();
            case "array":
            {
                CheckKeywords(s, path, "items", "minItems", "maxItems");
                GrammarNode item = s.TryGetProperty("items", out JsonElement items) ? Node(items, $"{path}/items") : Any(AnyDepth - 1);
                int min = Count(s, "minItems", path, 0), max = Count(s, "maxItems", path, -1);
                if (max >= 0 && max < min) throw new NotSupportedException($"The JSON schema at {path} has maxItems {max} below minItems {min}.");
                return new GrammarNode { Kind = NodeKind.Array, Item = item, MinItems = min, MaxItems = max };
            }
            case "object":
            {
                CheckKeywords(s, path, "properties", "required");
                bool closed = s.TryGetProperty("additionalProperties", out JsonElement extra) && extra.ValueKind == JsonValueKind.False;
                if (s.TryGetProperty("properties", out JsonElement none) && none.ValueKind == JsonValueKind.Object && !none.EnumerateObject().Any()
                    || !s.TryGetProperty("properties", out _) && closed)
                    return GrammarNode.Literal("{}");
                if (!s.TryGetProperty("properties", out JsonElement properties) || properties.ValueKind != JsonValueKind.Object)
                {
                    GrammarNode value = s.TryGetProperty("additionalProperties", out JsonElement ap) && ap.ValueKind == JsonValueKind.Object
                        ? Node(ap, $"{path}/additionalProperties")
                        : Any(AnyDepth - 1);
                    return Map(value);
                }
                var names = properties.EnumerateObject().Select(p => p.Name).ToList();
                if (s.TryGetProperty("required", out JsonElement required))
                    foreach (JsonElement name in required.EnumerateArray())
                        if (!names.Contains(name.GetString()!))
                            throw new NotSupportedException($"The JSON schema at {path} requires \"{name.GetString()}\", which is not among its properties.");
                var parts = new List<GrammarNode>();
                int i = 0;
                foreach (JsonProperty p in properties.EnumerateObject())
                {
                    parts.Add(GrammarNode.Literal((i++ == 0 ? "{" : ",") + Quote(p.Name) + ":"));
                    parts.Add(Node(p.Value, $"{path}/properties/{p.Name}"));
                }
                parts.Add(GrammarNode.Literal("}"));
                return GrammarNode.Sequence(parts.ToArray());
            }
            default:
                throw new NotSupportedException($"The JSON schema's type \"{type}\" at {path} is not a JSON type.");
        }
    }

    private static GrammarNode Map(GrammarNode value) =>
        new() { Kind = NodeKind.Map, Children = [GrammarNode.String(), value] };

    private GrammarNode Ref(JsonElement r, string path)
    {
        string target = r.GetString() ?? "";
        if (!target.StartsWith("#/", StringComparison.Ordinal) && target != "#")
            throw new NotSupportedException($"The JSON schema's $ref \"{target}\" at {path} is not a local reference (#/...).");
        if (++_refDepth > 16)
            throw new NotSupportedException($"The JSON schema's $ref \"{target}\" at {path} is recursive: a recursive schema has no finite grammar.");
        try
        {
            JsonElement node = _root;
            foreach (string part in target.Length <= 2 ? [] : target[2..].Split('/'))
            {
                string name = part.Replace("~1", "/").Replace("~0", "~");
                if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty(name, out JsonElement next)) node = next;
                else if (node.ValueKind == JsonValueKind.Array && int.TryParse(name, out int index) && index < node.GetArrayLength()) node = node[index];
                else throw new NotSupportedException($"The JSON schema's $ref \"{target}\" at {path} points nowhere.");
            }
            return Node(node, target);
        }
        finally
        {
            _refDepth--;
        }
    }

    /// <summary>Any JSON value nested at most <paramref name="depth"/> containers deep.</summary>
    private GrammarNode Any(int depth)
    {
        if (_any.TryGetValue(depth, out GrammarNode? node)) return node;
        var scalars = new List<GrammarNode>
        {
            GrammarNode.String(), new() { Kind = NodeKind.Number }, GrammarNode.Literal("true"), GrammarNode.Literal("false"), GrammarNode.Literal("null"),
        };
        if (depth > 0)
        {
            GrammarNode inner = Any(depth - 1);
            scalars.Add(Map(inner));
            scalars.Add(new GrammarNode { Kind = NodeKind.Array, Item = inner, MaxItems = -1 });
        }
        return _any[depth] = GrammarNode.Choice(scalars.ToArray());
    }

    private static void CheckKeywords(JsonElement s, string path, params string[] allowed)
    {
        foreach (JsonProperty p in s.EnumerateObject())
        {
            if (p.Name == "type" || s_annotations.Contains(p.Name) || allowed.Contains(p.Name)) continue;
            throw new NotSupportedException(
                $"The JSON schema keyword \"{p.Name}\" at {path} is not supported by constrained decoding, which would not enforce it.");
        }
    }

    private static int Count(JsonElement s, string name, string path, int fallback)
    {
        if (!s.TryGetProperty(name, out JsonElement v)) return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0 && n <= 1000) return n;
        throw new NotSupportedException($"The JSON schema's {name} at {path} is not an integer from 0 to 1000.");
    }

    /// <summary>A JSON value written compactly, as the literal the document must contain.</summary>
    private static string Compact(JsonElement value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
            value.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>A string as a JSON string literal, non-ASCII characters as themselves.</summary>
    public static string Quote(string text)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
            writer.WriteStringValue(text);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Indented = false,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private sealed class LiteralComparer : IEqualityComparer<GrammarNode>
    {
        public bool Equals(GrammarNode? x, GrammarNode? y) => x?.Text == y?.Text;
        public int GetHashCode(GrammarNode obj) => obj.Text.GetHashCode(StringComparison.Ordinal);
    }
}
