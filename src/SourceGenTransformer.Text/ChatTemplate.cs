using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Text.Jinja;

namespace SourceGenTransformer.Text;

/// <summary>A chat template that cannot be parsed or rendered, or whose <c>raise_exception(message)</c> was called.</summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ChatTemplateException(string message) : base(message)
    {
    }
}

/// <summary>
/// A model's chat template (the Jinja <c>chat_template</c> of its <c>tokenizer_config.json</c>), rendered as Hugging
/// Face's <c>apply_chat_template</c> does: Jinja2 with <c>trim_blocks</c> and <c>lstrip_blocks</c>, the loop controls,
/// and the globals <c>raise_exception</c>, <c>strftime_now</c>, <c>namespace</c> and <c>range</c>, and
/// <c>tojson</c> as <c>json.dumps(ensure_ascii=False)</c>.
/// </summary>
/// <remarks>
/// The interpreter covers what the templates of Llama 3, Qwen2.5, Phi-3, Gemma, SmolLM2 and Mistral use: if, for
/// (with <c>loop</c>, else and a filter), set (names, tuples, namespace attributes, blocks), break and continue;
/// every operator, slicing, attribute and item access, string and dict methods, and the common filters and tests. A
/// construct outside it (macros, call blocks, imports, an unknown filter) is a <see cref="ChatTemplateException"/>
/// when the template is constructed or rendered, never a wrong prompt.
/// </remarks>
public sealed class ChatTemplate
{
    private readonly List<Node> _body;

    /// <summary>Parses <paramref name="source"/>; <paramref name="bosToken"/> and <paramref name="eosToken"/> are the template's <c>bos_token</c> and <c>eos_token</c>.</summary>
    /// <exception cref="ChatTemplateException">The template does not parse, or uses a statement this engine does not run.</exception>
    public ChatTemplate(string source, string? bosToken = null, string? eosToken = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        BosToken = bosToken;
        EosToken = eosToken;
        _body = JinjaParser.Parse(source);
    }

    /// <summary>The Jinja source.</summary>
    public string Source { get; }

    /// <summary>The value of <c>bos_token</c> in the template, or null (undefined).</summary>
    public string? BosToken { get; }

    /// <summary>The value of <c>eos_token</c> in the template, or null (undefined).</summary>
    public string? EosToken { get; }

    /// <summary>The clock <c>strftime_now</c> reads (Llama 3.1's templates print today's date); the local time by default.</summary>
    public Func<DateTime> Now { get; init; } = () => DateTime.Now;

    /// <summary>
    /// Reads <c>chat_template</c>, <c>bos_token</c> and <c>eos_token</c> from a <c>tokenizer_config.json</c> (a
    /// template list picks the one named "default"; a token may be a string or an object with "content"), or from
    /// the <c>chat_template.jinja</c> or <c>chat_template.json</c> beside it when the config has none.
    /// </summary>
    /// <exception cref="ChatTemplateException">The file holds no chat template, or it does not parse.</exception>
    public static ChatTemplate FromTokenizerConfig(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement root = doc.RootElement;
        string? Token(string key) => root.TryGetProperty(key, out JsonElement t) ? t.ValueKind switch
        {
            JsonValueKind.String => t.GetString(),
            JsonValueKind.Object when t.TryGetProperty("content", out JsonElement c) => c.GetString(),
            _ => null,
        } : null;
        string? template = null;
        if (root.TryGetProperty("chat_template", out JsonElement ct))
        {
            if (ct.ValueKind == JsonValueKind.String) template = ct.GetString();
            else if (ct.ValueKind == JsonValueKind.Array)
                foreach (JsonElement named in ct.EnumerateArray())
                    if (named.TryGetProperty("name", out JsonElement n) && n.GetString() == "default" && named.TryGetProperty("template", out JsonElement t))
                        template = t.GetString();
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (template is null && File.Exists(Path.Combine(folder, "chat_template.jinja")))
            template = File.ReadAllText(Path.Combine(folder, "chat_template.jinja"));
        if (template is null && File.Exists(Path.Combine(folder, "chat_template.json")))
        {
            using JsonDocument side = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "chat_template.json")));
            if (side.RootElement.TryGetProperty("chat_template", out JsonElement s) && s.ValueKind == JsonValueKind.String) template = s.GetString();
        }
        if (template is null) throw new ChatTemplateException($"{path} holds no chat_template (and no chat_template.jinja or chat_template.json is beside it)");
        return new ChatTemplate(template, Token("bos_token"), Token("eos_token"));
    }

    /// <summary>
    /// Renders Microsoft.Extensions.AI messages: each becomes <c>{"role", "content"}</c> (the text of its contents),
    /// an assistant's function calls <c>"tool_calls": [{"type": "function", "function": {"name", "arguments"}}]</c>,
    /// and a function result a <c>"tool"</c> message.
    /// </summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="addGenerationPrompt">Whether to end with the assistant's turn opening (<c>add_generation_prompt</c>).</param>
    /// <param name="variables">More variables for the template: <c>tools</c>, <c>date_string</c>, and so on.</param>
    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = false, IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<IReadOnlyDictionary<string, object?>>();
        foreach (ChatMessage m in messages)
        {
            var calls = m.Contents.OfType<FunctionCallContent>().ToList();
            var results = m.Contents.OfType<FunctionResultContent>().ToList();
            if (results.Count > 0)
            {
                foreach (FunctionResultContent r in results)
                    list.Add(new Dictionary<string, object?> { ["role"] = "tool", ["content"] = ResultText(r.Result), ["tool_call_id"] = r.CallId });
                continue;
            }
            var message = new Dictionary<string, object?> { ["role"] = m.Role.Value, ["content"] = m.Text };
            if (calls.Count > 0)
                message["tool_calls"] = calls.Select(c => (object?)new Dictionary<string, object?>
                {
                    ["id"] = c.CallId,
                    ["type"] = "function",
                    ["function"] = new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = c.Arguments is null ? new Dictionary<string, object?>() : c.Arguments.ToDictionary(kv => kv.Key, kv => kv.Value) },
                }).ToList();
            list.Add(message);
        }
        return Render(list, addGenerationPrompt, variables);
    }

    /// <summary>
    /// Renders messages given as dictionaries, as <c>apply_chat_template</c> takes them (values: strings, numbers,
    /// booleans, null, lists, dictionaries, and JsonElement).
    /// </summary>
    /// <exception cref="ChatTemplateException">The template raised an exception, or used a value in a way Jinja2 would refuse.</exception>
    public string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt = false, IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var scope = new Scope(null);
        scope.SetLocal("raise_exception", new Callable("raise_exception", (a, _) => throw new ChatTemplateException(a.Count > 0 ? Values.Str(a[0]) : "raise_exception was called")));
        scope.SetLocal("namespace", new Callable("namespace", (a, named) =>
        {
            var ns = new Namespace();
            if (a.Count > 0 && a[0] is OrderedDictionary<string, object?> initial)
                foreach (var kv in initial) ns.Values[kv.Key] = kv.Value;
            foreach (var kv in named) ns.Values[kv.Key] = kv.Value;
            return ns;
        }));
        scope.SetLocal("range", new Callable("range", (a, _) =>
        {
            long Int(int i) => a[i] is long l ? l : throw new ChatTemplateException("range takes integers");
            (long start, long stop, long step) = a.Count switch { 1 => (0, Int(0), 1), 2 => (Int(0), Int(1), 1), 3 => (Int(0), Int(1), Int(2)), _ => throw new ChatTemplateException("range takes 1 to 3 arguments") };
            if (step == 0) throw new ChatTemplateException("range step cannot be zero");
            var r = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) r.Add(i);
            return r;
        }));
        scope.SetLocal("strftime_now", new Callable("strftime_now", (a, _) => Strftime(Now(), a.Count > 0 ? Values.Str(a[0]) : "")));
        if (BosToken is not null) scope.SetLocal("bos_token", BosToken);
        if (EosToken is not null) scope.SetLocal("eos_token", EosToken);
        scope.SetLocal("add_generation_prompt", addGenerationPrompt);
        // apply_chat_template always passes these two, None unless given.
        scope.SetLocal("tools", null);
        scope.SetLocal("documents", null);
        scope.SetLocal("messages", messages.Select(m => Normalize(m)).ToList());
        if (variables is not null)
            foreach (var kv in variables) scope.SetLocal(kv.Key, Normalize(kv.Value));

        var output = new StringBuilder();
        try
        {
            Node.RenderAll(_body, scope, output);
        }
        catch (LoopControl)
        {
            throw new ChatTemplateException("break or continue outside a loop");
        }
        return output.ToString();
    }

    /// <summary>A function's result as a tool message's content: a string as itself, anything else as JSON.</summary>
    private static string ResultText(object? result) => result switch
    {
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        JsonElement e => e.GetRawText(),
        null => "null",
        _ => JsonSerializer.Serialize(result, ChatTemplateJson.Default.Object),
    };

    /// <summary>A .NET value as the template's values: long, double, string, bool, null, List, ordered dict.</summary>
    private static object? Normalize(object? v) => v switch
    {
        null => null,
        string or bool or long or double => v,
        int i => (long)i,
        short s => (long)s,
        byte b => (long)b,
        uint u => (long)u,
        float f => (double)f,
        decimal d => (double)d,
        JsonElement e => FromJson(e),
        IEnumerable<KeyValuePair<string, object?>> pairs => ToDict(pairs),
        IEnumerable<KeyValuePair<string, string>> pairs => ToDict(pairs.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value))),
        IEnumerable items => items.Cast<object?>().Select(Normalize).ToList(),
        _ => v.ToString(),
    };

    private static OrderedDictionary<string, object?> ToDict(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var kv in pairs) d[kv.Key] = Normalize(kv.Value);
        return d;
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => ToDict(e.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value))),
        _ => null,
    };

    /// <summary>Python's strftime for the codes templates use (%d %m %Y %y %b %B %a %A %H %M %S %j %p %%).</summary>
    private static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            CultureInfo en = CultureInfo.InvariantCulture;
            sb.Append(c switch
            {
                'd' => t.Day.ToString("00", en),
                'm' => t.Month.ToString("00", en),
                'Y' => t.Year.ToString("0000", en),
                'y' => (t.Year % 100).ToString("00", en),
                'b' => t.ToString("MMM", en),
                'B' => t.ToString("MMMM", en),
                'a' => t.ToString("ddd", en),
                'A' => t.ToString("dddd", en),
                'H' => t.Hour.ToString("00", en),
                'I' => (t.Hour % 12 == 0 ? 12 : t.Hour % 12).ToString("00", en),
                'M' => t.Minute.ToString("00", en),
                'S' => t.Second.ToString("00", en),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => t.DayOfYear.ToString("000", en),
                '%' => "%",
                _ => throw new ChatTemplateException($"strftime_now: the code %{c} is not supported"),
            });
        }
        return sb.ToString();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(object))]
internal sealed partial class ChatTemplateJson : System.Text.Json.Serialization.JsonSerializerContext;
