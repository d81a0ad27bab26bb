using System;

namespace SourceGenTransformer.Tests;

/// <summary>
/// This thread's allocations over a window of work, for the zero-allocation tests. The runtime's per-thread count now
/// and then reads a few KB too many over a window that allocates nothing: here 8064 to 8168 bytes (about one
/// allocation quantum) in 1 to 4 of the 30 decode windows of one test run in two, with no collection in the window and
/// a different model each time; the runtime's own test of the counter has the same flake (dotnet/runtime#13502 and
/// #63487: 6 to 10 KB too many over a 1000-byte allocation). An allocation of the code under test is deterministic: it
/// shows in every window. So a window is measured up to three times and the fewest bytes count.
/// </summary>
internal static class Allocations
{
    /// <summary>The fewest bytes this thread allocated in any of up to <paramref name="tries"/> runs of <paramref name="window"/>; 0 ends early.</summary>
    public static long Fewest(Action window, int tries = 3)
    {
        long fewest = long.MaxValue;
        for (int t = 0; t < tries && fewest != 0; t++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            window();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return fewest;
    }
}
