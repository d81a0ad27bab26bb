using System;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace SourceGenTransformer;

/// <summary>
/// A weight file opened for explicit reads: every read names its offset and length, is checked against the length the
/// file had when it was opened, and reports a file that shrank under it (truncated or rewritten while loading) as a
/// <see cref="ModelLoadException"/>. Nothing is mapped, so a file cut short by another process can never raise SIGBUS,
/// and no mapping outlives the copy the model keeps.
/// </summary>
internal sealed class WeightFileReader : IDisposable
{
    /// <summary>Opens <paramref name="path"/> and hands it to <paramref name="open"/>, disposing it if that throws.</summary>
    public static T OpenWith<T>(string path, Func<WeightFileReader, T> open)
    {
        WeightFileReader file = Open(path);
        try
        {
            return open(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private readonly SafeFileHandle? _handle;
    private readonly Stream? _stream;

    private WeightFileReader(string path, SafeFileHandle? handle, Stream? stream, long length)
    {
        FilePath = path;
        _handle = handle;
        _stream = stream;
        Length = length;
    }

    /// <summary>
    /// Reads a seekable stream (a model embedded in the program as a manifest resource, say) by the same rules;
    /// <paramref name="name"/> stands for the file in errors. The stream is not disposed with the reader.
    /// </summary>
    public static WeightFileReader Open(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!stream.CanRead || !stream.CanSeek)
            throw new ArgumentException("A weight stream must be readable and seekable (a manifest resource, a FileStream or a MemoryStream is).", nameof(stream));
        if (stream.Length == 0)
            throw new ModelLoadException(name, null, "the stream is empty (0 bytes).");
        return new WeightFileReader(name, null, stream, stream.Length);
    }

    /// <summary>The path the file was opened by.</summary>
    public string FilePath { get; }

    /// <summary>The file's length when it was opened.</summary>
    public long Length { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for reading, following symbolic links (a Hugging Face cache snapshot holds links
    /// into its blobs folder) to the file they name.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing exists at the path, or a link's target does not.</exception>
    /// <exception cref="ModelLoadException">The path is a directory, or not a regular file (a pipe, socket or device), or cannot be read.</exception>
    public static WeightFileReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string target = ResolveLinks(path);
        if (Directory.Exists(target))
            throw new ModelLoadException(path, null, "this is a directory, not a weight file.");
        var info = new FileInfo(target);
        if (!info.Exists)
            throw new FileNotFoundException(target == path ? $"Weight file not found: {path}" : $"Weight file not found: {path} is a link to {target}, which does not exist.", path);
        // Pipes, sockets and devices report no length: opening a pipe would block until a writer came, so they are
        // refused before they are opened. A weight file is a regular file with at least a header.
        if (info.Length == 0)
            throw new ModelLoadException(path, null, "the file is empty (0 bytes), or is not a regular file (a pipe, socket or device); a weight file is a regular file.");
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(target, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, null, $"the file cannot be opened for reading ({e.Message}).", e);
        }
        try
        {
            return new WeightFileReader(path, handle, null, RandomAccess.GetLength(handle));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The path a chain of symbolic links ends at (the path itself when it is no link).</summary>
    public static string ResolveLinks(string path)
    {
        try
        {
            FileSystemInfo? final = new FileInfo(path).LinkTarget is null ? null : File.ResolveLinkTarget(path, returnFinalTarget: true);
            return final?.FullName ?? path;
        }
        catch (IOException e)
        {
            throw new ModelLoadException(path, null, $"the symbolic link cannot be followed ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; <paramref name="what"/>
    /// names the part of the file (a tensor, the header) in the error when the file ends first.
    /// </summary>
    public void ReadExactly(long offset, Span<byte> destination, string? tensor, string what)
    {
        if (offset < 0 || offset > Length - destination.Length)
            throw new ModelLoadException(FilePath, tensor, $"{what}: bytes [{offset}, {offset + destination.Length}) lie outside the file's {Length} bytes.");
        while (!destination.IsEmpty)
        {
            int read;
            try
            {
                if (_handle is not null) read = RandomAccess.Read(_handle, destination, offset);
                else
                {
                    lock (_stream!)
                    {
                        _stream.Position = offset;
                        read = _stream.Read(destination);
                    }
                }
            }
            catch (IOException e)
            {
                throw new ModelLoadException(FilePath, tensor, $"{what}: reading at byte {offset} failed ({e.Message}).", e);
            }
            if (read == 0)
                throw new ModelLoadException(FilePath, tensor,
                    $"{what}: the file ended at byte {offset}, but it was {Length} bytes when it was opened; it was truncated or rewritten while loading.");
            destination = destination.Slice(read);
            offset += read;
        }
    }

    public void Dispose() => _handle?.Dispose();
}
