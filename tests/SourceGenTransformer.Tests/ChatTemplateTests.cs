using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// ChatTemplate against Jinja2 itself: tests/fixtures/make_chat_template_fixtures.py renders the templates of Qwen2.5,
/// Llama 3.2, Phi-3, Gemma, SmolLM2 and Mistral (tests/fixtures/chat) with Hugging Face's settings over conversations
/// with and without a system message, one to four turns, odd characters, tools and tool calls, with and without the
/// generation prompt; ours must equal every output byte for byte and raise where Jinja2 raised, with its message.
/// </summary>
public sealed class ChatTemplateTests
{
    private static readonly DateTime FixedClock = new(2024, 7, 26, 9, 5, 0);

    private static JsonElement Root { get; } = JsonDocument.Parse(File.ReadAllBytes(Fixture.Path("chat-templates.json"))).RootElement;

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Root.GetProperty("cases").GetArrayLength(); i++) data.Add(i);
        return data;
    }

    private static ChatTemplate Template(string name)
    {
        JsonElement t = Root.GetProperty("templates").GetProperty(name);
        string? Token(string key) => t.GetProperty(key).ValueKind == JsonValueKind.String ? t.GetProperty(key).GetString() : null;
        return new ChatTemplate(t.GetProperty("source").GetString()!, Token("bos_token"), Token("eos_token")) { Now = () => FixedClock };
    }

    private static Dictionary<string, object?> Dict(JsonElement e) => e.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_as_jinja2_does(int index)
    {
        JsonElement c = Root.GetProperty("cases")[index];
        ChatTemplate template = Template(c.GetProperty("template").GetString()!);
        var messages = c.GetProperty("messages").EnumerateArray().Select(m => (IReadOnlyDictionary<string, object?>)Dict(m)).ToList();
        bool add = c.GetProperty("add_generation_prompt").GetBoolean();
        Dictionary<string, object?> variables = Dict(c.GetProperty("variables"));
        if (c.TryGetProperty("expected", out JsonElement expected))
            Assert.Equal(expected.GetString(), template.Render(messages, add, variables));
        else
            Assert.Equal(c.GetProperty("error").GetString(), Assert.Throws<ChatTemplateException>(() => template.Render(messages, add, variables)).Message);
    }

    [Fact]
    public void The_fixtures_cover_every_family_with_at_least_eight_conversations()
    {
        var byTemplate = Root.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("template").GetString()!)
            .Where(name => !name.StartsWith("snippet-", StringComparison.Ordinal)).GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(["gemma", "llama3.2", "mistral", "phi3", "qwen2.5", "smollm2"], byTemplate.Keys.Order().ToArray());
        Assert.All(byTemplate.Values, n => Assert.True(n >= 16, $"{n} cases")); // 8 conversations or more, with and without the prompt
    }

    [Fact]
    public void Microsoft_extensions_ai_messages_render_as_their_dictionaries()
    {
        ChatTemplate qwen = Template("qwen2.5");
        ChatMessage[] chat =
        [
            new(ChatRole.System, "Be brief."),
            new(ChatRole.User, "Weather in Paris?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call-1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call-1", "sunny")]),
        ];
        string prompt = qwen.Render(chat, addGenerationPrompt: true);
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n" +
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n" +
            "</tool_response><|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Theory]
    [InlineData("{% macro m() %}x{% endmacro %}", "the statement 'macro' is not supported")]
    [InlineData("{{ messages | wordwrap }}", "the filter 'wordwrap' is not supported")]
    [InlineData("{% if x %}never closed", "without")]
    [InlineData("{{ 'unterminated }}", "never closed")]
    [InlineData("{{ undefined_thing.attribute }}", "'undefined_thing' is undefined")]
    [InlineData("{{ raise_exception('custom message') }}", "custom message")]
    public void Unsupported_or_broken_templates_are_clear_errors(string source, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new ChatTemplate(source).Render([new Dictionary<string, object?> { ["role"] = "user", ["content"] = "x" }]));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void From_tokenizer_config_reads_the_template_and_its_tokens()
    {
        string dir = Directory.CreateTempSubdirectory("stg-chat-").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer_config.json");
            string source = JsonSerializer.Serialize(Root.GetProperty("templates").GetProperty("mistral").GetProperty("source").GetString()!, ChatTemplateTestJson.Default.String);
            File.WriteAllText(path, "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\", \"chat_template\": " + source + "}");
            ChatTemplate t = ChatTemplate.FromTokenizerConfig(path);
            Assert.Equal(("<s>", "</s>"), (t.BosToken, t.EosToken));
            Assert.Equal("<s>[INST] Hi [/INST]", t.Render([new ChatMessage(ChatRole.User, "Hi")]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class ChatTemplateTestJson : System.Text.Json.Serialization.JsonSerializerContext;
