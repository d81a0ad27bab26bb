using System;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer;

/// <summary>How a loaded model runs: passed to a generated model's <c>Load(path, options)</c>.</summary>
public sealed class ModelOptions
{
    /// <summary>
    /// Threads that run the kernels, the caller's included: 0 (the default) for one per processor, 1 for the calling
    /// thread alone. Results are the same bit for bit whatever the count: work is split by matrix rows and attention
    /// heads, never inside a sum.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>
    /// Whether loading checks every weight is finite (the default): a NaN or infinity in the file is then a
    /// <see cref="ModelLoadException"/> naming the tensor and the element, instead of logits that are all NaN or
    /// silently wrong. The check reads each value once more while it is still in cache; false skips it, for the
    /// fastest load of files you trust.
    /// </summary>
    public bool CheckFiniteWeights { get; init; } = true;

    /// <summary>Throws if an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Threads is negative or above 256.</exception>
    public void Validate() => CheckThreads(Threads, nameof(Threads));

    /// <summary>The one range check for a thread count (0 = one per processor), shared with <see cref="WorkerPool"/>.</summary>
    internal static void CheckThreads(int threads, string parameter)
    {
        if (threads < 0 || threads > 256)
            throw new ArgumentOutOfRangeException(parameter, threads, $"Threads must be between 0 (one per processor, {Environment.ProcessorCount} here) and 256.");
    }
}
