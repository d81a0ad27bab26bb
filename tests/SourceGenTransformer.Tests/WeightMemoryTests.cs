using System;
using System.IO;
using Xunit;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer.Tests;

public class WeightMemoryTests
{
    [Fact]
    public void Arrays_are_zeroed_of_the_asked_length_small_or_large()
    {
        foreach (int length in new[] { 0, 1, 1000, 3 * 1024 * 1024 }) // the last is 12 MiB of floats: advised on Linux
        {
            float[] a = WeightMemory.Allocate<float>(length);
            Assert.Equal(length, a.Length);
            Assert.True(a.AsSpan().IndexOfAnyExcept(0f) < 0, $"length {length}: not zeroed");
        }
        sbyte[] bytes = WeightMemory.Allocate<sbyte>(5 * 1024 * 1024);
        Assert.True(bytes.AsSpan().IndexOfAnyExcept((sbyte)0) < 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightMemory.Allocate<float>(-1));
    }

    [Fact]
    public void Large_arrays_are_advised_into_huge_pages_where_the_kernel_offers_them()
    {
        const string setting = "/sys/kernel/mm/transparent_hugepage/enabled";
        bool offered = OperatingSystem.IsLinux() && File.Exists(setting) && !File.ReadAllText(setting).Contains("[never]", StringComparison.Ordinal);
        WeightMemory.Allocate<float>(4 * 1024 * 1024);
        // Where transparent huge pages are on, the advice is accepted; whether the kernel then finds free 2 MiB pages
        // is up to it (AnonHugePages in /proc/meminfo), and what they are worth is measured by the decode benchmark.
        if (offered) Assert.True(WeightMemory.HugePagesAdvised);
    }
}
