using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using SourceGenTransformer;

namespace Benchmarks;

/// <summary>Resident memory while loading a model: its own process, so that the peak is the load's and nothing else's.</summary>
internal sealed record LoadRow(string Name, long WeightBytes, long BaselineRss, long PeakRss, long AfterRss, double Seconds)
{
    /// <summary>How far the load's peak went above what the loaded model keeps: 1.0 is no transient copy at all.</summary>
    public double PeakOverModel => (double)(PeakRss - BaselineRss) / Math.Max(1, AfterRss - BaselineRss);

    /// <summary>The load's peak over the weights' own bytes (parameters × 4 for float32).</summary>
    public double PeakOverWeights => (double)(PeakRss - BaselineRss) / WeightBytes;
}

internal static class LoadMemory
{
    public const string Argument = "--measure-load";

    /// <summary>In the child: resident set before, at its peak during, and after loading the 110M shape; printed as one line.</summary>
    public static int Measure(string path)
    {
        long baseline = Status("VmRSS");
        ResetPeak();
        var clock = Stopwatch.StartNew();
        using var model = Stories110M.Load(path, new ModelOptions { Threads = 1 });
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = Status("VmHWM"), after = Status("VmRSS");
        GC.KeepAlive(model);
        Console.WriteLine(string.Join(' ', new[] { baseline, peak, after }.Select(v => v.ToString(CultureInfo.InvariantCulture))) + " " + seconds.ToString("R", CultureInfo.InvariantCulture));
        return 0;
    }

    /// <summary>Runs <see cref="Measure"/> in a fresh process of this binary on the 110M shape's weights.</summary>
    public static LoadRow Run(Shape shape, string file)
    {
        string output = ChildProcess.Run(Environment.ProcessPath!, [Argument, file], "the load measurement");
        string[] v = output.Trim().Split(' ');
        long weights = 4 * Stories110M.ParameterCount;
        var row = new LoadRow(shape.Name, weights, long.Parse(v[0], CultureInfo.InvariantCulture), long.Parse(v[1], CultureInfo.InvariantCulture),
            long.Parse(v[2], CultureInfo.InvariantCulture), double.Parse(v[3], CultureInfo.InvariantCulture));
        Console.Error.WriteLine($"{shape.Name} load: peak {row.PeakRss / 1e6:F0} MB over a {row.BaselineRss / 1e6:F0} MB baseline, {row.AfterRss / 1e6:F0} MB after; " +
            $"peak / model {row.PeakOverModel:F3}, peak / weights {row.PeakOverWeights:F3}, {row.Seconds:F2} s");
        return row;
    }

    /// <summary>A field of /proc/self/status, in bytes.</summary>
    internal static long Status(string field)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Resets VmHWM to the current resident size (Linux: writing 5 to clear_refs), so the peak is the load's.</summary>
    internal static void ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
