using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Benchmarks;

/// <summary>The benchmark's child processes (our own measurements in a fresh process, the peers): run, wait, check.</summary>
internal static class ChildProcess
{
    /// <summary>Runs <paramref name="file"/> to its end and returns what it wrote to stdout; a failure names <paramref name="what"/> and its stderr.</summary>
    public static string Run(string file, IEnumerable<string> arguments, string what)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(info) ?? throw new InvalidOperationException($"{what}: could not start {file}");
        // stderr on its own task, so that neither pipe fills while the other is read.
        var err = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{what} failed (exit {process.ExitCode}): {err.Result}");
        return output;
    }
}
