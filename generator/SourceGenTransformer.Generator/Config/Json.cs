using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace SourceGenTransformer.Generator.Config;

internal enum JsonKind { Null, Bool, Number, String, Array, Object }

/// <summary>
/// A JSON value with the span it was read from, so that a diagnostic can point at it. Built and read inside one
/// pipeline step and never cached: the step's input (the file's text) and output (a spec) are what compare equal.
/// </summary>
internal sealed class JsonValue
{
    public JsonValue(JsonKind kind, TextSpan span) { Kind = kind; Span = span; }

    public JsonKind Kind { get; }

    /// <summary>Where the value is in the file.</summary>
    public TextSpan Span { get; }

    public bool Bool { get; init; }
    public double Number { get; init; }

    /// <summary>The number as written, to tell integers from fractions.</summary>
    public string Text { get; init; } = "";

    public string String { get; init; } = "";
    public List<JsonValue> Items { get; } = [];

    /// <summary>An object's members in file order, each with the span of its key.</summary>
    public List<(string Key, TextSpan KeySpan, JsonValue Value)> Members { get; } = [];

    public bool IsInteger => Kind == JsonKind.Number && Text.IndexOfAny(['.', 'e', 'E']) < 0;

    public bool TryGet(string key, out TextSpan keySpan, out JsonValue value)
    {
        // The last of duplicate keys wins, as in Python's json module, which wrote the file.
        for (int i = Members.Count - 1; i >= 0; i--)
        {
            if (Members[i].Key == key)
            {
                (keySpan, value) = (Members[i].KeySpan, Members[i].Value);
                return true;
            }
        }
        (keySpan, value) = (default, null!);
        return false;
    }

    public string Describe() => Kind switch
    {
        JsonKind.Null => "null",
        JsonKind.Bool => Bool ? "true" : "false",
        JsonKind.Number => Text,
        JsonKind.String => "\"" + String + "\"",
        JsonKind.Array => "an array",
        _ => "an object",
    };
}

/// <summary>A JSON syntax error at a position of the text.</summary>
internal sealed class JsonException : Exception
{
    public JsonException(string message, int position) : base(message) => Position = position;

    public int Position { get; }
}

/// <summary>
/// A small strict JSON reader (RFC 8259), for config files at compile time. The generator does not load
/// System.Text.Json: analyzers run on the host compiler's copy, whose version the generator cannot choose. Python's
/// json module also writes NaN and Infinity, which are read as numbers; nesting is limited to 64 levels.
/// </summary>
internal sealed class JsonReader
{
    private const int MaxDepth = 64;
    private readonly string _text;
    private int _pos;

    private JsonReader(string text) => _text = text;

    public static JsonValue Parse(string text)
    {
        var reader = new JsonReader(text);
        reader.SkipSpace();
        JsonValue value = reader.ReadValue(0);
        reader.SkipSpace();
        if (reader._pos < text.Length)
            throw new JsonException($"unexpected '{text[reader._pos]}' after the end of the JSON value", reader._pos);
        return value;
    }

    private JsonValue ReadValue(int depth)
    {
        if (depth > MaxDepth) throw new JsonException($"values are nested more than {MaxDepth} levels deep", _pos);
        if (_pos >= _text.Length) throw new JsonException("the file ends where a value was expected", _pos);
        int start = _pos;
        char c = _text[_pos];
        switch (c)
        {
            case '{': return ReadObject(depth);
            case '[': return ReadArray(depth);
            case '"':
                string s = ReadString();
                return new JsonValue(JsonKind.String, Span(start)) { String = s };
            case 't': Expect("true"); return new JsonValue(JsonKind.Bool, Span(start)) { Bool = true };
            case 'f': Expect("false"); return new JsonValue(JsonKind.Bool, Span(start));
            case 'n': Expect("null"); return new JsonValue(JsonKind.Null, Span(start));
            case 'N': Expect("NaN"); return new JsonValue(JsonKind.Number, Span(start)) { Number = double.NaN, Text = "NaN" };
            case 'I': Expect("Infinity"); return new JsonValue(JsonKind.Number, Span(start)) { Number = double.PositiveInfinity, Text = "Infinity" };
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                throw new JsonException($"unexpected '{c}' where a value was expected", _pos);
        }
    }

    private TextSpan Span(int start) => TextSpan.FromBounds(start, _pos);

    private void Expect(string word)
    {
        if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0)
            throw new JsonException($"unexpected '{_text[_pos]}' where a value was expected", _pos);
        _pos += word.Length;
    }

    private JsonValue ReadObject(int depth)
    {
        int start = _pos++;
        var members = new List<(string, TextSpan, JsonValue)>();
        SkipSpace();
        if (Peek() == '}') { _pos++; return Object(start, members); }
        while (true)
        {
            SkipSpace();
            if (Peek() != '"') throw new JsonException(Peek() == '}' ? "a trailing comma before '}'" : "expected a quoted key", _pos);
            int keyStart = _pos;
            string key = ReadString();
            var keySpan = TextSpan.FromBounds(keyStart, _pos);
            SkipSpace();
            if (Peek() != ':') throw new JsonException($"expected ':' after the key \"{key}\"", _pos);
            _pos++;
            SkipSpace();
            members.Add((key, keySpan, ReadValue(depth + 1)));
            SkipSpace();
            char c = Peek();
            _pos++;
            if (c == '}') return Object(start, members);
            if (c != ',') throw new JsonException(c == '\0' ? "the file ends inside an object" : $"expected ',' or '}}' but found '{c}'", _pos - 1);
        }
    }

    private JsonValue Object(int start, List<(string, TextSpan, JsonValue)> members)
    {
        var value = new JsonValue(JsonKind.Object, Span(start));
        value.Members.AddRange(members);
        return value;
    }

    private JsonValue ReadArray(int depth)
    {
        int start = _pos++;
        var items = new List<JsonValue>();
        SkipSpace();
        if (Peek() != ']')
        {
            while (true)
            {
                SkipSpace();
                items.Add(ReadValue(depth + 1));
                SkipSpace();
                char c = Peek();
                _pos++;
                if (c == ']') break;
                if (c != ',') throw new JsonException(c == '\0' ? "the file ends inside an array" : $"expected ',' or ']' but found '{c}'", _pos - 1);
            }
        }
        else _pos++;
        var value = new JsonValue(JsonKind.Array, Span(start));
        value.Items.AddRange(items);
        return value;
    }

    private string ReadString()
    {
        int start = _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length) throw new JsonException("the file ends inside a string", start);
            char c = _text[_pos++];
            if (c == '"') return sb.ToString();
            if (c < ' ') throw new JsonException("a control character inside a string", _pos - 1);
            if (c != '\\') { sb.Append(c); continue; }
            if (_pos >= _text.Length) throw new JsonException("the file ends inside a string", start);
            char e = _text[_pos++];
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    if (_pos + 4 > _text.Length || !int.TryParse(_text.Substring(_pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
                        throw new JsonException("a \\u escape needs four hexadecimal digits", _pos - 2);
                    sb.Append((char)code);
                    _pos += 4;
                    break;
                default: throw new JsonException($"an unknown escape '\\{e}' inside a string", _pos - 2);
            }
        }
    }

    private JsonValue ReadNumber()
    {
        int start = _pos;
        if (Peek() == '-') _pos++;
        if (Peek() == 'I') { Expect("Infinity"); return new JsonValue(JsonKind.Number, Span(start)) { Number = double.NegativeInfinity, Text = "-Infinity" }; }
        if (!char.IsDigit(Peek())) throw new JsonException("a number needs digits after '-'", _pos);
        if (Peek() == '0' && _pos + 1 < _text.Length && char.IsDigit(_text[_pos + 1])) throw new JsonException("a number may not start with 0", _pos);
        Digits();
        if (Peek() == '.') { _pos++; if (!char.IsDigit(Peek())) throw new JsonException("a number needs digits after '.'", _pos); Digits(); }
        if (Peek() is 'e' or 'E')
        {
            _pos++;
            if (Peek() is '+' or '-') _pos++;
            if (!char.IsDigit(Peek())) throw new JsonException("a number needs digits in its exponent", _pos);
            Digits();
        }
        string text = _text.Substring(start, _pos - start);
        double number = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return new JsonValue(JsonKind.Number, Span(start)) { Number = number, Text = text };
    }

    private void Digits()
    {
        while (_pos < _text.Length && _text[_pos] >= '0' && _text[_pos] <= '9') _pos++;
    }

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private void SkipSpace()
    {
        while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r') _pos++;
    }
}
