using System;
using System.IO;
using System.Text.Json;

namespace SourceGenTransformer;

/// <summary>
/// What a sentence-transformers folder says about pooling: <c>1_Pooling/config.json</c> (the pooling mode) and
/// <c>modules.json</c> (whether a Normalize module follows). A Bert loader checks a model folder's files against its
/// declaration, so that a model declared with the wrong pooling fails to load instead of embedding differently.
/// </summary>
public static class SentenceTransformersConfig
{
    /// <summary>The pooling config of a sentence-transformers folder, relative to it.</summary>
    public const string PoolingFile = "1_Pooling/config.json";

    /// <summary>
    /// Finds the sentence-transformers folder a weight path belongs to (the folder itself, the file's folder, or, for
    /// <c>onnx/model.onnx</c>, its parent) and, when it has <see cref="PoolingFile"/>, checks it against the declared
    /// pooling and normalisation.
    /// </summary>
    /// <exception cref="ModelLoadException">The folder's pooling or normalisation differs from the declaration's, or its config is malformed.</exception>
    public static void Check(string weightPath, string className, EmbeddingPooling pooling, bool normalize)
    {
        string? folder = Directory.Exists(weightPath) ? weightPath : Path.GetDirectoryName(Path.GetFullPath(weightPath));
        for (int up = 0; up < 2 && folder is not null; up++, folder = Path.GetDirectoryName(folder))
        {
            string config = Path.Combine(folder, PoolingFile);
            if (!File.Exists(config)) continue;
            (EmbeddingPooling found, string key) = ReadPooling(config);
            if (found != pooling)
                throw new ModelLoadException(config, null,
                    $"sentence-transformers pools this model by {key} ({found}), but {className} declares Pooling = EmbeddingPooling.{pooling}; " +
                    $"declare Pooling = EmbeddingPooling.{found}, or the embeddings will not be the model's.");
            string modules = Path.Combine(folder, "modules.json");
            if (File.Exists(modules))
            {
                bool normalized = ReadNormalize(modules);
                if (normalized != normalize)
                    throw new ModelLoadException(modules, null,
                        $"the model's modules {(normalized ? "end with" : "have no")} a Normalize module, but {className} declares NormalizeEmbeddings = {(normalize ? "true" : "false")}; " +
                        $"declare NormalizeEmbeddings = {(normalized ? "true" : "false")}.");
            }
            return;
        }
    }

    private static (EmbeddingPooling, string) ReadPooling(string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException(path, null, "the pooling config is not a JSON object.");
            EmbeddingPooling? mode = null;
            string key = "";
            foreach ((string name, EmbeddingPooling value) in new[]
            {
                ("pooling_mode_mean_tokens", EmbeddingPooling.Mean), ("pooling_mode_cls_token", EmbeddingPooling.Cls), ("pooling_mode_max_tokens", EmbeddingPooling.Max),
            })
            {
                if (!root.TryGetProperty(name, out JsonElement v) || v.ValueKind != JsonValueKind.True) continue;
                if (mode is not null) throw new ModelLoadException(path, null, $"both {key} and {name} are true; this library pools one way.");
                (mode, key) = (value, name);
            }
            foreach (string other in new[] { "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" })
                if (root.TryGetProperty(other, out JsonElement v) && v.ValueKind == JsonValueKind.True)
                    throw new ModelLoadException(path, null, $"{other} is true, a pooling this library does not implement (it has mean, CLS and max).");
            return mode is { } m ? (m, key) : throw new ModelLoadException(path, null, "no pooling mode is true (pooling_mode_mean_tokens, pooling_mode_cls_token or pooling_mode_max_tokens).");
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, null, $"the pooling config is not valid JSON ({e.Message}).", e);
        }
    }

    private static bool ReadNormalize(string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new ModelLoadException(path, null, "modules.json is not a JSON array.");
            foreach (JsonElement module in doc.RootElement.EnumerateArray())
                if (module.ValueKind == JsonValueKind.Object && module.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
                    && type.GetString()!.EndsWith(".Normalize", StringComparison.Ordinal))
                    return true;
            return false;
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, null, $"modules.json is not valid JSON ({e.Message}).", e);
        }
    }
}
