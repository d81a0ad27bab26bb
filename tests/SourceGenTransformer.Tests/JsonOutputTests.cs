using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>A Llama engine with the vocabulary of the story model's SentencePiece tokenizer, as tokenizer.json (1,024 ids).</summary>
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, ModelDim = 32, FeedForwardDim = 64, VocabSize = 1024, MaxSequenceLength = 512,
    BosToken = 1, EosToken = 2)]
public partial class SentencePieceShapedChat;

[JsonConverter(typeof(JsonStringEnumConverter<Sky>))]
public enum Sky { Sunny, Cloudy, Rainy, Snowy }

public sealed record Address(string Street, string City, int Number);
public sealed record Customer(string Name, Address Home, bool Member);
public sealed record Order(Customer Customer, Address Shipping, int Quantity);
public sealed record Basket(string[] Items, List<int> Counts, List<Address> Stops);
public sealed record Weather(Sky Today, Sky[] Week);
public sealed record Measurement(double Value, int Count, long Total, double? Error);
public sealed class Person
{
    [JsonRequired] public required string Name { get; init; }
    [JsonRequired] public required int Age { get; init; }
    public string? Nickname { get; init; }
    public bool? Admin { get; init; }
}

/// <summary>
/// JSON output under <see cref="ChatOptions.ResponseFormat"/>: random weights sampled at temperature 1.0, so the model
/// itself prefers nothing, and every reply must still parse and validate. The schemas are Microsoft.Extensions.AI's own
/// for five C# types (nested objects, arrays, enums, numbers, required fields); a reply validates when System.Text.Json
/// reads it into its type with unmapped members refused, required properties and nullability respected, and enums as names.
/// </summary>
public sealed class JsonOutputTests : IClassFixture<JsonOutputTests.Fixture>, IClassFixture<ChatModelFixture>
{
    private readonly Fixture _f;
    private readonly ChatModelFixture _qwen;

    public JsonOutputTests(Fixture f, ChatModelFixture qwen)
    {
        _f = f;
        _qwen = qwen;
    }

    public sealed class Fixture : IDisposable
    {
        private readonly string _weights = Path.Combine(Path.GetTempPath(), $"stg-json-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");

        public Fixture()
        {
            const int dim = 32, ffn = 64, vocab = 1024;
            var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [vocab, dim]), ("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim]) };
            string p = "model.layers.0.";
            shapes.AddRange([
                (p + "input_layernorm.weight", [dim]), (p + "post_attention_layernorm.weight", [dim]), (p + "self_attn.q_proj.weight", [dim, dim]),
                (p + "self_attn.k_proj.weight", [dim, dim]), (p + "self_attn.v_proj.weight", [dim, dim]), (p + "self_attn.o_proj.weight", [dim, dim]),
                (p + "mlp.gate_proj.weight", [ffn, dim]), (p + "mlp.up_proj.weight", [ffn, dim]), (p + "mlp.down_proj.weight", [dim, ffn]),
            ]);
            SweepWeights.WriteSafetensors(_weights, shapes.Select(s =>
            {
                var values = new float[s.Item2.Aggregate(1L, (a, b) => a * b)];
                SweepWeights.Fill(s.Item1, 3, 0.3f, s.Item1.EndsWith("norm.weight", StringComparison.Ordinal) ? 1f : 0f, values);
                return new SweepWeights.Tensor(s.Item1, s.Item2, values);
            }).ToList());
            Model = SentencePieceShapedChat.Load(_weights);
            Tokenizer = HuggingFaceTokenizer.Load(SourceGenTransformer.Tests.Fixture.Path(Path.Combine("tokenizers", "metaspace.json")));
        }

        public SentencePieceShapedChat Model { get; }

        public HuggingFaceTokenizer Tokenizer { get; }

        public TransformerChatClient Client() => new(new TextGenerator(Model, Tokenizer));

        public void Dispose()
        {
            Model.Dispose();
            File.Delete(_weights);
        }
    }

    private static readonly JsonSerializerOptions Strict = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        NumberHandling = JsonNumberHandling.Strict,
    };

    private static JsonElement SchemaOf(Type type) => AIJsonUtilities.CreateJsonSchema(type, serializerOptions: Strict);

    public static TheoryData<string> Types => ["Order", "Basket", "Weather", "Measurement", "Person"];

    private static Type TypeOf(string name) => name switch
    {
        "Order" => typeof(Order),
        "Basket" => typeof(Basket),
        "Weather" => typeof(Weather),
        "Measurement" => typeof(Measurement),
        _ => typeof(Person),
    };

    [Theory]
    [MemberData(nameof(Types))]
    public async Task Two_hundred_sampled_replies_all_validate_against_their_schema(string name)
    {
        Type type = TypeOf(name);
        JsonElement schema = SchemaOf(type);
        TransformerChatClient client = _f.Client();
        var failures = new List<string>();
        for (int seed = 0; seed < 200; seed++)
        {
            var options = new ChatOptions
            {
                ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, name), Temperature = 1.0f, Seed = seed, MaxOutputTokens = 160,
            };
            ChatResponse r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Write the record.")], options);
            try
            {
                object? value = JsonSerializer.Deserialize(r.Text, type, Strict);
                Assert.NotNull(value);
                if (value is Weather w) Assert.All(w.Week.Append(w.Today), s => Assert.True(Enum.IsDefined(s)));
            }
            catch (Exception e) when (e is JsonException or Xunit.Sdk.XunitException)
            {
                failures.Add($"seed {seed} ({r.FinishReason}, {r.Usage?.OutputTokenCount} tokens): {e.Message}\n  {r.Text}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of 200 replies do not validate against {schema}:\n" + string.Join("\n", failures.Take(5)));
    }

    [Fact]
    public async Task Json_without_a_schema_is_any_document_that_parses()
    {
        TransformerChatClient client = _f.Client();
        var kinds = new HashSet<JsonValueKind>();
        for (int seed = 0; seed < 200; seed++)
        {
            var options = new ChatOptions { ResponseFormat = ChatResponseFormat.Json, Temperature = 1.0f, Seed = seed, MaxOutputTokens = 64 };
            ChatResponse r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "JSON please")], options);
            using JsonDocument doc = JsonDocument.Parse(r.Text);
            kinds.Add(doc.RootElement.ValueKind);
        }
        Assert.True(kinds.Count >= 3, string.Join(",", kinds)); // the model picks among value kinds; none is forced
    }

    [Fact]
    public async Task Get_response_async_of_t_returns_the_typed_value_through_microsoft_extensions_ai()
    {
        IChatClient client = _qwen.Client();
        for (int seed = 0; seed < 5; seed++)
        {
            ChatResponse<Order> order = await client.GetResponseAsync<Order>("Make up an order.", Strict,
                new ChatOptions { Temperature = 1.0f, Seed = seed, MaxOutputTokens = 300 });
            Assert.NotNull(order.Result.Customer.Home);
            ChatResponse<Sky> sky = await client.GetResponseAsync<Sky>("What is the sky like?", Strict,
                new ChatOptions { Temperature = 1.0f, Seed = seed, MaxOutputTokens = 40 });
            Assert.True(Enum.IsDefined(sky.Result));
        }
    }

    [Fact]
    public async Task A_budget_too_small_for_any_document_and_an_unenforceable_schema_are_refused()
    {
        TransformerChatClient client = _f.Client();
        var tiny = new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(SchemaOf(typeof(Order))), MaxOutputTokens = 10 };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "x")], tiny));
        Assert.Contains("MaxOutputTokens 10", e.Message);

        using JsonDocument pattern = JsonDocument.Parse("""{"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}}""");
        var unsupported = new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(pattern.RootElement.Clone()), MaxOutputTokens = 40 };
        var n = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "x")], unsupported));
        Assert.Contains("\"pattern\" at #/properties/zip", n.Message);
    }
}
