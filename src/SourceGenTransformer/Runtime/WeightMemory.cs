using System.ComponentModel;
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The arrays generated weight classes keep their matrices in. On Linux, the 2 MiB-aligned middle of an array of at
/// least 4 MiB is marked for transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>) before its first write, so where the
/// kernel offers them (<c>/sys/kernel/mm/transparent_hugepage/enabled</c> set to <c>madvise</c> or <c>always</c>) the
/// weights sit in 2 MiB pages. A decoded token streams every weight once: with 4 KiB pages the hardware prefetchers
/// stop at every page boundary and each page costs a TLB entry; with 2 MiB pages the streams run on. Elsewhere, or
/// when the kernel refuses, the arrays are ordinary ones. The arrays are pinned (they never move, as the advice is
/// about addresses) and zeroed, like <c>new T[length]</c>.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static unsafe partial class WeightMemory
{
    private const nuint HugePage = 2 * 1024 * 1024;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE in <sys/mman.h>

    /// <summary>The smallest array, in bytes, that is advised: from two huge pages on, its aligned middle holds at least one.</summary>
    public const long AdvisedBytes = 2L * 2 * 1024 * 1024;

    /// <summary>Whether the kernel accepted the huge-page advice for any array so far (it still grants pages as it can).</summary>
    public static bool HugePagesAdvised { get; private set; }

    /// <summary>A zeroed, pinned array of <paramref name="length"/> elements, in huge pages where the OS offers them.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    public static T[] Allocate<T>(int length) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bytes = (long)length * sizeof(T);
        if (bytes < AdvisedBytes || !OperatingSystem.IsLinux()) return GC.AllocateArray<T>(length, pinned: true);

        // Uninitialised, so that no page of it has been touched yet when the advice is given; cleared after it.
        T[] array = GC.AllocateUninitializedArray<T>(length, pinned: true);
        nuint start = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        nuint first = (start + HugePage - 1) & ~(HugePage - 1), last = (start + (nuint)bytes) & ~(HugePage - 1);
        if (last > first && Madvise(first, last - first, MadviseHugePage) == 0) HugePagesAdvised = true;
        array.AsSpan().Clear();
        return array;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nuint address, nuint length, int advice);
}
