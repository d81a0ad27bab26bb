using System;
using System.IO;

namespace SourceGenTransformer;

/// <summary>
/// Where a generated loader reads weights from: tensors by name, as float32, each checked against the
/// shape the declaration expects. Implemented by <see cref="SafetensorsFile"/> and <see cref="Llama2CCheckpoint"/>.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The file the tensors come from (named in every error).</summary>
    string FilePath { get; }

    /// <summary>Whether a tensor of this name exists.</summary>
    bool Contains(string name);

    /// <summary>Reads a tensor whose shape must equal <paramref name="expectedShape"/> into <paramref name="destination"/>.</summary>
    void ReadInto(string name, ReadOnlySpan<long> expectedShape, Span<float> destination);

    /// <summary>Reads the first <paramref name="rows"/> rows of a table with at least that many rows of <paramref name="cols"/>.</summary>
    void ReadLeadingRowsInto(string name, long rows, long cols, Span<float> destination);

    /// <summary>Reads a <c>[cols, rows]</c> tensor transposed into <c>[rows, cols]</c>.</summary>
    void ReadTransposedInto(string name, int rows, int cols, Span<float> destination);
}

/// <summary>Opens a weight file by what it holds, not by its name.</summary>
public static class WeightFile
{
    /// <summary>
    /// Opens <paramref name="path"/> as safetensors, or as a llama2.c checkpoint (<c>model.bin</c>, the legacy
    /// version-0 layout or version 1 with its "ak42" header) when it is one. llama2.c checkpoints expose the
    /// Hugging Face Llama names, so any Llama-family declaration loads them.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is neither, or is malformed.</exception>
    public static ITensorSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Weight file not found: {path}", path);
        Span<byte> head = stackalloc byte[9];
        int read;
        using (FileStream stream = File.OpenRead(path)) read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        // safetensors: an 8-byte little-endian header length, then the JSON header's '{'.
        if (read == 9 && head[8] == (byte)'{') return SafetensorsFile.Open(path);
        if (read >= 4 && BitConverter.ToUInt32(head) == Llama2CCheckpoint.Magic) return Llama2CCheckpoint.Open(path);
        // Neither signature: a legacy llama2.c file has none, so try it, and say both reasons if it fails.
        try
        {
            return Llama2CCheckpoint.Open(path);
        }
        catch (ModelLoadException asLlama2C)
        {
            try
            {
                return SafetensorsFile.Open(path);
            }
            catch (ModelLoadException asSafetensors)
            {
                throw new ModelLoadException(path, null,
                    $"this is neither a safetensors file ({Reason(asSafetensors, path)}) nor a llama2.c checkpoint ({Reason(asLlama2C, path)}).");
            }
        }
    }

    private static string Reason(ModelLoadException e, string path) =>
        e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message.Substring(path.Length + 2).TrimEnd('.') : e.Message;
}
