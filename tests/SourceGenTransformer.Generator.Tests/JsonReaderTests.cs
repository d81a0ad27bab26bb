using System;
using System.Linq;
using System.Text.Json;
using SourceGenTransformer.Generator.Config;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>The generator's own JSON reader, checked against System.Text.Json (the oracle; the test may load it, an analyzer may not).</summary>
public sealed class JsonReaderTests
{
    // A config.json as transformers writes it (Qwen2.5-0.5B's keys), and the corners of the grammar.
    private const string Qwen = """
        {
          "architectures": [
            "Qwen2ForCausalLM"
          ],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": [151645, 151643],
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "model_type": "qwen2",
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 1000000.0,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "use_sliding_window": false
        }
        """;

    public static TheoryData<string> Valid => new()
    {
        Qwen,
        "[]", "{}", "0", "-0.5e+3", "1E-7", "\"\"", "true", "null",
        "{\"a\": {\"b\": [1, [2, [3, {\"c\": \"\\u00e9\\n\\\"\\\\\\/\\t\"}]]]}}",
        " \r\n\t[1 ,2\t,3 ] ",
        "\"caf\u00e9 \\ud83d\\ude00\"",
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Reads_what_System_Text_Json_reads(string text)
    {
        using JsonDocument oracle = JsonDocument.Parse(text);
        JsonValue ours = JsonReader.Parse(text);
        AssertSame(oracle.RootElement, ours, text);
    }

    public static TheoryData<string> Malformed => new()
    {
        "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "1.", "-", "1e", "\"abc", "\"\\x\"",
        "\"\\u12\"", "tru", "[1]]", "{\"a\":1}}", "\"a\tb\"", "'a'",
        string.Concat(Enumerable.Repeat("[", 100)) + string.Concat(Enumerable.Repeat("]", 100)),
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Rejects_what_System_Text_Json_rejects_with_a_position_inside_the_text(string text)
    {
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 }));
        var ours = Assert.Throws<Config.JsonException>(() => JsonReader.Parse(text));
        Assert.InRange(ours.Position, 0, text.Length);
        Assert.False(string.IsNullOrEmpty(ours.Message));
    }

    [Theory]
    [InlineData("[1,]", 3, "unexpected ']'")]
    [InlineData("{\"a\" 1}", 5, "expected ':'")]
    [InlineData("{\"a\":1,}", 7, "trailing comma")]
    [InlineData("[1 2]", 3, "expected ',' or ']'")]
    [InlineData("01", 0, "may not start with 0")]
    [InlineData("\"\\x\"", 1, "unknown escape")]
    public void A_syntax_error_names_what_is_wrong_at_the_character_that_is_wrong(string text, int position, string message)
    {
        var error = Assert.Throws<Config.JsonException>(() => JsonReader.Parse(text));
        Assert.Equal(position, error.Position);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Spans_point_at_keys_and_values()
    {
        JsonValue root = JsonReader.Parse(Qwen);
        Assert.True(root.TryGet("hidden_size", out var key, out JsonValue value));
        Assert.Equal("\"hidden_size\"", Qwen.Substring(key.Start, key.Length));
        Assert.Equal("896", Qwen.Substring(value.Span.Start, value.Span.Length));
        Assert.True(value.IsInteger);
        Assert.True(root.TryGet("rope_theta", out _, out JsonValue theta));
        Assert.False(theta.IsInteger);
        Assert.Equal(1e6, theta.Number);
        Assert.True(root.TryGet("eos_token_id", out _, out JsonValue eos));
        Assert.Equal("[151645, 151643]", Qwen.Substring(eos.Span.Start, eos.Span.Length));
        Assert.False(root.TryGet("head_dim", out _, out _));
    }

    [Fact]
    public void Reads_the_NaN_and_Infinity_that_Python_writes()
    {
        JsonValue v = JsonReader.Parse("[NaN, Infinity, -Infinity]");
        Assert.True(double.IsNaN(v.Items[0].Number));
        Assert.Equal(double.PositiveInfinity, v.Items[1].Number);
        Assert.Equal(double.NegativeInfinity, v.Items[2].Number);
    }

    private static void AssertSame(JsonElement expected, JsonValue actual, string text)
    {
        string where = text.Substring(actual.Span.Start, Math.Min(40, actual.Span.Length));
        Assert.Equal(expected.GetRawText(), text.Substring(actual.Span.Start, actual.Span.Length));
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                Assert.Equal(JsonKind.Object, actual.Kind);
                var members = expected.EnumerateObject().ToArray();
                Assert.Equal(members.Length, actual.Members.Count);
                for (int i = 0; i < members.Length; i++)
                {
                    Assert.Equal(members[i].Name, actual.Members[i].Key);
                    AssertSame(members[i].Value, actual.Members[i].Value, text);
                }
                break;
            case JsonValueKind.Array:
                Assert.Equal(JsonKind.Array, actual.Kind);
                var items = expected.EnumerateArray().ToArray();
                Assert.Equal(items.Length, actual.Items.Count);
                for (int i = 0; i < items.Length; i++) AssertSame(items[i], actual.Items[i], text);
                break;
            case JsonValueKind.String:
                Assert.Equal(JsonKind.String, actual.Kind);
                Assert.Equal(expected.GetString(), actual.String);
                break;
            case JsonValueKind.Number:
                Assert.Equal(JsonKind.Number, actual.Kind);
                Assert.True(expected.GetDouble() == actual.Number, where);
                break;
            case JsonValueKind.True or JsonValueKind.False:
                Assert.Equal(JsonKind.Bool, actual.Kind);
                Assert.Equal(expected.GetBoolean(), actual.Bool);
                break;
            default:
                Assert.Equal(JsonKind.Null, actual.Kind);
                break;
        }
    }
}
