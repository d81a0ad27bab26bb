using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The StoryTeller command line, run as a process: flags, bad flags and missing files.</summary>
public class CliTests
{
    private static string StoryTellerDll([CallerFilePath] string here = "")
    {
        // The sample is built with the solution; find its output for this test run's configuration.
        string configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        string dll = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "samples", "StoryTeller", "bin", configuration, "net10.0", "StoryTeller.dll"));
        Assert.True(File.Exists(dll), $"{dll} is missing; build the solution first (dotnet test SourceGenTransformer.sln builds it).");
        return dll;
    }

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(StoryTellerDll());
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd(), stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "StoryTeller did not finish");
        return (process.ExitCode, stdout, stderr);
    }

    private static void OneLineError((int Exit, string Out, string Err) r, int exit, string contains)
    {
        Assert.Equal(exit, r.Exit);
        Assert.Contains(contains, r.Err);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", r.Err); // never a stack trace
    }

    [Fact]
    public void Generates_text_and_reports_speed()
    {
        var r = Run("--max-tokens", "24", "--temperature", "0", "Once upon a time");
        Assert.Equal(0, r.Exit);
        Assert.StartsWith("Once upon a time", r.Out);
        Assert.True(r.Out.Trim().Length > "Once upon a time".Length, "no text was generated");
        Assert.Contains("tokens/s", r.Err);
        Assert.Contains("first token after", r.Err);
    }

    [Fact]
    public void Same_seed_gives_the_same_text()
    {
        var a = Run("--max-tokens", "24", "--seed", "7", "One day,");
        var b = Run("--max-tokens", "24", "--seed", "7", "One day,");
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void Help_lists_every_option()
    {
        var r = Run("--help");
        Assert.Equal(0, r.Exit);
        foreach (string flag in new[] { "--max-tokens", "--temperature", "--top-k", "--top-p", "--seed", "--model", "--tokenizer" })
            Assert.Contains(flag, r.Out);
    }

    [Theory]
    [InlineData("unknown option '--bogus'", "--bogus")]
    [InlineData("--max-tokens needs a whole number, got 'many'", "--max-tokens", "many")]
    [InlineData("--temperature", "--temperature", "-1")]
    [InlineData("--top-p", "--top-p", "1.5")]
    [InlineData("--seed needs a non-negative whole number", "--seed", "-3")]
    [InlineData("--model needs a value", "--model")]
    public void Bad_flags_are_one_line_errors(string message, params string[] args) => OneLineError(Run(args), 2, message);

    [Fact]
    public void Missing_files_are_one_line_errors()
    {
        OneLineError(Run("--model", "/nonexistent/weights.safetensors"), 1, "Weight file not found: /nonexistent/weights.safetensors");
        OneLineError(Run("--tokenizer", "/nonexistent/tokenizer.model"), 1, "Tokenizer file not found: /nonexistent/tokenizer.model");
    }
}
