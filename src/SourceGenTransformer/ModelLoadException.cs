using System;
using System.IO;

namespace SourceGenTransformer;

/// <summary>
/// A weight file could not be loaded: it is malformed, truncated, or does not hold the
/// tensors and shapes the declaration requires. The message names the file, the tensor
/// and the expected and found values.
/// </summary>
public sealed class ModelLoadException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ModelLoadException(string filePath, string? tensorName, string message, Exception? inner = null)
        : base(Compose(filePath, tensorName, message), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file that failed to load.</summary>
    public string FilePath { get; }

    /// <summary>The tensor at fault, or null when the file as a whole is at fault.</summary>
    public string? TensorName { get; }

    private static string Compose(string filePath, string? tensorName, string message) =>
        tensorName is null ? $"{filePath}: {message}" : $"{filePath}: tensor '{tensorName}': {message}";
}
