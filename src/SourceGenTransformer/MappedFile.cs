using System;
using System.IO;
using System.IO.MemoryMappedFiles;

namespace SourceGenTransformer;

/// <summary>A whole file mapped read-only, with a pointer to its first byte; the weight readers share it.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private bool _disposed;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer, long length)
    {
        _map = map;
        _view = view;
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The first byte of the file.</summary>
    public byte* Pointer { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/>, which must exist and hold at least one byte.</summary>
    public static MappedFile Open(string path, long length)
    {
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new MappedFile(map, view, pointer + view.PointerOffset, length);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
