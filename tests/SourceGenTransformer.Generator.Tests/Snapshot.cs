using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>
/// Whole-file snapshots of generated source, committed under Snapshots/{scenario}/. A mismatch fails
/// with a readable diff; setting STG_UPDATE_SNAPSHOTS=1 rewrites the expected files instead (review
/// the diff in git as you would review code).
/// </summary>
internal static class Snapshot
{
    public const string UpdateVariable = "STG_UPDATE_SNAPSHOTS";

    public static string Directory([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "Snapshots");

    public static string ReadInput(string scenario) => File.ReadAllText(Path.Combine(Directory(), scenario, "input.cs"));

    public static void Match(string scenario, string fileName, string actual)
    {
        string path = Path.Combine(Directory(), scenario, fileName);
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"No snapshot at {path}. Run the tests with {UpdateVariable}=1 to write it, then review it.");
        string expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected != actual)
            Assert.Fail($"Generated {fileName} differs from the snapshot {path}.\n{Diff(expected, actual)}\nIf the change is intended, rerun with {UpdateVariable}=1 and review the diff.");
    }

    /// <summary>The first differing line with three lines of context on each side, and the line counts.</summary>
    internal static string Diff(string expected, string actual)
    {
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        int first = 0;
        while (first < e.Length && first < a.Length && e[first] == a[first]) first++;
        var sb = new StringBuilder($"Expected {e.Length} lines, got {a.Length}; first difference at line {first + 1}:\n");
        for (int i = Math.Max(0, first - 3); i < Math.Min(Math.Max(e.Length, a.Length), first + 4); i++)
        {
            string el = i < e.Length ? e[i] : "<end of file>", al = i < a.Length ? a[i] : "<end of file>";
            if (el == al) sb.Append($"  {i + 1,5}   {el}\n");
            else sb.Append($"- {i + 1,5}   {el}\n+ {i + 1,5}   {al}\n");
        }
        return sb.ToString();
    }
}
