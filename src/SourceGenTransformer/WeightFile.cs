using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace SourceGenTransformer;

/// <summary>The weight formats a family's loader accepts (<see cref="WeightFile.Open(string, ModelOptions?, WeightFormats)"/>).</summary>
[Flags]
public enum WeightFormats
{
    /// <summary>safetensors: one file, a sharded <c>model.safetensors.index.json</c>, or the folder holding either.</summary>
    Safetensors = 1,

    /// <summary>llama2.c checkpoints (<c>model.bin</c>, version 0 or 1): Llama only.</summary>
    Llama2C = 2,

    /// <summary>ONNX models (<c>model.onnx</c>, as transformers and sentence-transformers export them): Bert only.</summary>
    Onnx = 4,

    /// <summary>GGUF files (llama.cpp; the llama, qwen2 and qwen3 architectures): the Llama engine only.</summary>
    Gguf = 8,
}

/// <summary>Opens a weight file by what it holds, not by its name.</summary>
public static class WeightFile
{
    /// <summary>The file a Hugging Face folder keeps a single-file model in.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The index a Hugging Face folder keeps a sharded model's tensor-to-shard map in.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>The file an ONNX export keeps the model in (sentence-transformers puts it in an onnx/ folder).</summary>
    public const string OnnxFileName = "model.onnx";

    /// <summary>
    /// Opens <paramref name="path"/>: a safetensors file, a sharded model's <c>model.safetensors.index.json</c> (with its
    /// shards beside it), a folder holding either (as Hugging Face ships models), or, where <paramref name="formats"/>
    /// allows, a llama2.c checkpoint (the legacy version-0 layout or version 1 with its "ak42" header). Symbolic links
    /// are followed (a Hugging Face cache snapshot links every file into its blobs folder).
    /// </summary>
    /// <param name="path">The file or folder.</param>
    /// <param name="options">Loading options (<see cref="ModelOptions.CheckFiniteWeights"/>); null for the defaults.</param>
    /// <param name="formats">The formats the caller's family reads; an error names only these.</param>
    /// <exception cref="FileNotFoundException">Nothing exists at the path.</exception>
    /// <exception cref="ModelLoadException">The file is none of the formats, is malformed, or the folder holds no model.</exception>
    public static TensorSource Open(string path, ModelOptions? options = null, WeightFormats formats = WeightFormats.Safetensors | WeightFormats.Llama2C)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string resolved = WeightFileReader.ResolveLinks(path);
        if (Directory.Exists(resolved)) return OpenFolder(path, resolved, options, formats);

        return Open(WeightFileReader.Open(path), path, options, formats);
    }

    /// <summary>
    /// Opens weights held in a seekable stream (a model embedded in the program as a manifest resource, say): a
    /// safetensors file, an ONNX model or a llama2.c checkpoint, as <paramref name="formats"/> allows, told apart by
    /// their bytes. <paramref name="name"/> stands for the file in errors. The stream must stay open while loading and
    /// is not disposed.
    /// </summary>
    /// <exception cref="ModelLoadException">The bytes are none of the formats, or malformed.</exception>
    public static TensorSource Open(Stream stream, string name, ModelOptions? options = null, WeightFormats formats = WeightFormats.Safetensors | WeightFormats.Llama2C) =>
        Open(WeightFileReader.Open(stream, name), name, options, formats, fromStream: true);

    private static TensorSource Open(WeightFileReader file, string path, ModelOptions? options, WeightFormats formats, bool fromStream = false)
    {
        try
        {
            var head = new byte[Math.Min(16, file.Length)];
            file.ReadExactly(0, head, null, "the first bytes");
            // safetensors: an 8-byte little-endian header length, then the JSON header's '{'.
            if (head.Length >= 9 && head[8] == (byte)'{' && formats.HasFlag(WeightFormats.Safetensors))
                return SafetensorsFile.Open(file, options);
            if (OnnxFile.LooksLikeOnnx(head))
            {
                if (formats.HasFlag(WeightFormats.Onnx)) return OnnxFile.Open(file, options);
                throw new ModelLoadException(file.FilePath, null,
                    $"this looks like an ONNX model, which only Bert declarations load; this model loads {(formats.HasFlag(WeightFormats.Llama2C) ? "safetensors or llama2.c" : "safetensors")} weights.");
            }
            if (head.Length >= 4 && BitConverter.ToUInt32(head) == GgufFile.Magic)
            {
                if (formats.HasFlag(WeightFormats.Gguf)) return GgufFile.Open(file, options);
                throw new ModelLoadException(file.FilePath, null, "this is a GGUF file, which only Llama-engine declarations (llama, qwen2, qwen3) load.");
            }
            if (head.Length >= 4 && BitConverter.ToUInt32(head) == Llama2CCheckpoint.Magic && formats.HasFlag(WeightFormats.Llama2C))
                return Llama2CCheckpoint.Open(file, options);
            if (head.SkipWhile(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n').FirstOrDefault() == (byte)'{' && formats.HasFlag(WeightFormats.Safetensors))
            {
                if (fromStream)
                    throw new ModelLoadException(path, null, "this is JSON (a sharded model's index?); a sharded model loads from its folder or index path, not from a stream.");
                file.Dispose();
                return ShardedSafetensors.Open(path, options);
            }
            return OpenUnsigned(file, options, formats);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A file with no signature: a legacy llama2.c checkpoint has none; else say why it is none of the formats.</summary>
    private static TensorSource OpenUnsigned(WeightFileReader file, ModelOptions? options, WeightFormats formats)
    {
        var reasons = new List<string>();
        if (formats.HasFlag(WeightFormats.Llama2C))
        {
            try
            {
                return Llama2CCheckpoint.Open(file, options);
            }
            catch (ModelLoadException e)
            {
                reasons.Add($"nor a llama2.c checkpoint ({Reason(e, file.FilePath)})");
            }
        }
        if (formats.HasFlag(WeightFormats.Safetensors))
        {
            try
            {
                return SafetensorsFile.Open(file, options);
            }
            catch (ModelLoadException e)
            {
                reasons.Insert(0, $"not a safetensors file ({Reason(e, file.FilePath)})");
            }
        }
        if (formats.HasFlag(WeightFormats.Onnx))
            reasons.Add("nor an ONNX model (its first bytes are not a ModelProto's ir_version and next field)");
        var names = new List<string> { "safetensors" };
        if (formats.HasFlag(WeightFormats.Llama2C)) names.Add("llama2.c");
        if (formats.HasFlag(WeightFormats.Onnx)) names.Add("ONNX");
        string accepted = string.Join(" or ", names);
        throw new ModelLoadException(file.FilePath, null, $"this is {string.Join(", ", reasons)}; this model loads {accepted} weights.");
    }

    private static TensorSource OpenFolder(string path, string folder, ModelOptions? options, WeightFormats formats)
    {
        string index = Path.Combine(folder, IndexFileName), single = Path.Combine(folder, SingleFileName), onnx = Path.Combine(folder, OnnxFileName);
        if (formats.HasFlag(WeightFormats.Safetensors))
        {
            if (File.Exists(index)) return ShardedSafetensors.Open(index, options);
            if (File.Exists(single)) return SafetensorsFile.Open(single, options);
        }
        if (formats.HasFlag(WeightFormats.Onnx) && File.Exists(onnx)) return OnnxFile.Open(onnx, options);
        string[] present = Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(8).ToArray()!;
        throw new ModelLoadException(path, null,
            $"this is a directory, and it holds neither {SingleFileName} nor {IndexFileName} " +
            $"({(present.Length == 0 ? "it is empty" : "it holds " + string.Join(", ", present))}); pass the weight file's path, or the folder a Hugging Face model was saved to.");
    }

    private static string Reason(ModelLoadException e, string path) =>
        e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message.Substring(path.Length + 2).TrimEnd('.') : e.Message;
}

/// <summary>
/// A model saved in several safetensors files, as Hugging Face saves larger ones: <c>model.safetensors.index.json</c>
/// maps every tensor to the shard that holds it (<c>"weight_map"</c>), and the shards sit beside it.
/// </summary>
/// <remarks>
/// The index is checked against the shards: every shard is a valid safetensors file, every tensor the index maps is in
/// the shard it names, every tensor of a shard is in the index and in no other shard, and shard names stay inside the
/// folder (no absolute paths, no "..").
/// </remarks>
public sealed class ShardedSafetensors : TensorSource
{
    private readonly List<SafetensorsFile> _shards;
    private readonly Dictionary<string, SafetensorsFile> _byTensor;

    private ShardedSafetensors(string path, List<SafetensorsFile> shards, Dictionary<string, SafetensorsFile> byTensor, bool checkFinite)
        : base(path, checkFinite)
    {
        _shards = shards;
        _byTensor = byTensor;
    }

    /// <summary>The shards, in the order the index first names them.</summary>
    public IReadOnlyList<SafetensorsFile> Shards => _shards;

    /// <inheritdoc/>
    public override IEnumerable<string> TensorNames => _byTensor.Keys;

    /// <summary>Opens the index at <paramref name="indexPath"/> and every shard it names.</summary>
    /// <exception cref="ModelLoadException">The index is malformed, or disagrees with its shards.</exception>
    public static ShardedSafetensors Open(string indexPath, ModelOptions? options = null)
    {
        Dictionary<string, string> map = ReadWeightMap(indexPath);
        // Shards sit beside the index as the caller names it: in a Hugging Face cache snapshot the index and the shards
        // are links into blobs/, where the files are named by hash, so the links' folder is the one to look in.
        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var shards = new List<SafetensorsFile>();
        var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach ((string tensor, string shardName) in map)
            {
                if (!byName.TryGetValue(shardName, out SafetensorsFile? shard))
                {
                    if (Path.IsPathRooted(shardName) || shardName.Split('/', '\\').Contains(".."))
                        throw new ModelLoadException(indexPath, tensor, $"the index names shard '{shardName}', outside the index's folder.");
                    string shardPath = Path.Combine(folder, shardName);
                    if (!File.Exists(WeightFileReader.ResolveLinks(shardPath)))
                        throw new ModelLoadException(indexPath, tensor, $"the index puts it in shard '{shardName}', which is not beside the index ({shardPath} does not exist).");
                    shard = SafetensorsFile.Open(shardPath, options);
                    shards.Add(shard);
                    byName.Add(shardName, shard);
                }
                if (!shard.Contains(tensor))
                    throw new ModelLoadException(shard.FilePath, tensor, $"the index {indexPath} puts this tensor in this shard, but the shard does not hold it.");
                byTensor.Add(tensor, shard);
            }
            foreach (SafetensorsFile shard in shards)
            {
                foreach (string tensor in shard.TensorNames)
                {
                    if (!byTensor.TryGetValue(tensor, out SafetensorsFile? owner))
                        throw new ModelLoadException(shard.FilePath, tensor, $"the shard holds this tensor, but the index {indexPath} does not list it.");
                    if (owner != shard)
                        throw new ModelLoadException(shard.FilePath, tensor, $"the shard holds this tensor, but the index {indexPath} puts it in {owner.FilePath}.");
                }
            }
            return new ShardedSafetensors(indexPath, shards, byTensor, options?.CheckFiniteWeights ?? true);
        }
        catch
        {
            foreach (SafetensorsFile shard in shards) shard.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        byte[] bytes;
        using (WeightFileReader file = WeightFileReader.Open(indexPath))
        {
            if (file.Length > SafetensorsFile.MaxHeaderBytes)
                throw new ModelLoadException(indexPath, null, $"the index is {file.Length} bytes, more than an index of tensor names needs; it is not a safetensors index.");
            bytes = new byte[file.Length];
            file.ReadExactly(0, bytes, null, "the index");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(indexPath, null, $"the index is not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement weightMap))
                throw new ModelLoadException(indexPath, null, "the index must be a JSON object with a \"weight_map\" of tensor names to shard files.");
            if (weightMap.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(indexPath, null, $"its \"weight_map\" must be an object of tensor names to shard files, found {weightMap.ValueKind}.");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            try
            {
                foreach (JsonProperty entry in weightMap.EnumerateObject())
                {
                    if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString()!.Length == 0)
                        throw new ModelLoadException(indexPath, entry.Name, $"its shard in \"weight_map\" must be a file name, found {entry.Value.GetRawText()}.");
                    if (!map.TryAdd(entry.Name, entry.Value.GetString()!))
                        throw new ModelLoadException(indexPath, entry.Name, "\"weight_map\" names this tensor twice.");
                }
            }
            catch (InvalidOperationException e)
            {
                throw new ModelLoadException(indexPath, null, $"the index holds a string that is not valid text ({e.Message}).", e);
            }
            if (map.Count == 0)
                throw new ModelLoadException(indexPath, null, "its \"weight_map\" is empty.");
            return map;
        }
    }

    /// <inheritdoc/>
    public override bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <inheritdoc/>
    protected override long[]? FindShape(string name) => _byTensor.TryGetValue(name, out SafetensorsFile? shard) ? shard.Tensors[name].Shape : null;

    /// <inheritdoc/>
    protected internal override void ReadElementsCore(string name, long first, Span<float> destination) =>
        _byTensor[name].ReadElementsCore(name, first, destination);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (SafetensorsFile shard in _shards) shard.Dispose();
    }
}
