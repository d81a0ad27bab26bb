using System;
using System.IO;
using System.Text.Json;

namespace SourceGenTransformer.Tests;

/// <summary>A PyTorch fixture: weights file, prompt, expected logits at every position and greedy tokens.</summary>
public sealed class Fixture
{
    public required string Name { get; init; }
    public required int[] Prompt { get; init; }
    public required int[] Inputs { get; init; }
    public required int[] Greedy { get; init; }
    public required float[][] Logits { get; init; }

    /// <summary>The weight file: the fixture's own, or the one its JSON names ("x.safetensors" in fixtures, "models:x" a trained model).</summary>
    public string WeightsPath { get; init; } = "";

    public static string Path(string file) => System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures", file);

    /// <summary>A file of a model trained here (models/*), copied beside the tests.</summary>
    public static string ModelPath(string file) => System.IO.Path.Combine(AppContext.BaseDirectory, "models", file);

    public static Fixture Read(string name)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path(name + ".json")));
        JsonElement root = doc.RootElement;
        int[] Ints(string p) => root.GetProperty(p).Deserialize(FixtureJson.Default.Int32Array)!;
        string weights = root.TryGetProperty("weights", out JsonElement file) ? file.GetString()! : name + ".safetensors";
        return new Fixture
        {
            Name = name,
            WeightsPath = weights.StartsWith("models:", StringComparison.Ordinal) ? ModelPath(weights["models:".Length..]) : Path(weights),
            Prompt = Ints("prompt"),
            Inputs = Ints("inputs"),
            Greedy = Ints("greedy"),
            Logits = root.GetProperty("logits").Deserialize(FixtureJson.Default.SingleArrayArray)!,
        };
    }

    /// <summary>Opens the fixture's generated model by name, from its weight file or from <paramref name="path"/> (another file of the model).</summary>
    public IDecoderModel Load(ModelOptions? options = null, string? path = null) => Open(path ?? WeightsPath, options);

    private IDecoderModel Open(string file, ModelOptions? options) => Name switch
    {
        "llama-basic-bf16" => LlamaBasicBf16.Load(file, options),
        "llama-basic-int8" => LlamaBasicInt8.Load(file, options),
        "gpt2-basic-bf16" => Gpt2BasicBf16.Load(file, options),
        "gpt2-basic-int8" => Gpt2BasicInt8.Load(file, options),
        "storyteller-int8" => StoryTellerInt8.Load(file, options),
        "llama-basic-q4_0" => LlamaBasicQ4.Load(file, options),
        "gpt2-basic-q4_0" => Gpt2BasicQ4.Load(file, options),
        "storyteller-q4_0" => StoryTellerQ4.Load(file, options),
        "llama-basic" => LlamaBasic.Load(file, options),
        "llama-gqa-tied" => LlamaGqaTied.Load(file, options),
        "llama-odd" => LlamaOdd.Load(file, options),
        "gpt2-basic" => Gpt2Basic.Load(file, options),
        "gpt2-odd" => Gpt2Odd.Load(file, options),
        "gpt2-relu" => Gpt2Relu.Load(file, options),
        "hf-llama3-scaled" => HfLlama3Scaled.Load(file, options),
        "hf-llama3-scaled-odd" => HfLlama3ScaledOdd.Load(file, options),
        "hf-qwen2-tied" => HfQwen2Tied.Load(file, options),
        "hf-qwen2-mqa" => HfQwen2Mqa.Load(file, options),
        "hf-mistral-window" => HfMistralWindow.Load(file, options),
        "hf-mistral-window-odd" => HfMistralWindowOdd.Load(file, options),
        "hf-llama-head-dim" => HfLlamaHeadDim.Load(file, options),
        "hf-llama-bias" => HfLlamaBias.Load(file, options),
        "hf-qwen3-tied" => HfQwen3Tied.Load(file, options),
        "hf-qwen3-narrow" => HfQwen3Narrow.Load(file, options),
        "hf-gemma-mqa" => HfGemmaMqa.Load(file, options),
        "hf-gemma-split" => HfGemmaSplit.Load(file, options),
        "hf-phi3-partial" => HfPhi3Partial.Load(file, options),
        "hf-phi3-window" => HfPhi3Window.Load(file, options),
        _ => throw new ArgumentException(Name),
    };

    /// <summary>max |a - b| / max(1, max |b|): the parity measure of the issue.</summary>
    public static float ScaledMaxDiff(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        float diff = 0f, scale = 1f;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = MathF.Max(diff, MathF.Abs(actual[i] - expected[i]));
            scale = MathF.Max(scale, MathF.Abs(expected[i]));
        }
        return diff / scale;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(int[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(float[][]))]
internal sealed partial class FixtureJson : System.Text.Json.Serialization.JsonSerializerContext;
