using System;
using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Parallel;

/// <summary>
/// The one convention for work on the model's worker pool. A class that runs jobs declares a <c>Job</c> enum, one named
/// member per job; the forward pass calls <c>Run(Job.X, layer)</c> beside the math it computes; <c>Execute</c> (the
/// pool's entry) is a switch with one line per job, each calling a method named after the job that runs one part's
/// share: a range of matrix rows, of attention heads, or of positions. Each output is computed by exactly one part, in a
/// fixed order, so results do not depend on the thread count.
/// </summary>
internal sealed class Jobs
{
    private readonly List<(string Name, string Doc, Action<SourceWriter> Body)> _jobs = [];

    /// <summary>Adds a job: its name, what it computes, and the body of its method (in scope: <c>part</c>, <c>parts</c>).</summary>
    public string Add(string name, string doc, Action<SourceWriter> body)
    {
        _jobs.Add((name, doc, body));
        return "Job." + name;
    }

    /// <summary>Writes the Job enum, Execute's switch and every job's method.</summary>
    public void Emit(SourceWriter w)
    {
        w.Line("/// <summary>The jobs this class runs on the worker pool; each is the method of the same name below.</summary>");
        using (w.Block("private enum Job"))
        {
            foreach (var job in _jobs)
            {
                w.Line($"/// <summary>{job.Doc}</summary>");
                w.Line(job.Name + ",");
            }
        }
        w.Line();
        w.Line("/// <summary>The pool's entry: runs part <paramref name=\"part\"/> of <paramref name=\"parts\"/> of the current job.</summary>");
        using (w.Block("void IParallelWork.Execute(int part, int parts)"))
        {
            using (w.Block("switch (_job)"))
            {
                foreach (var job in _jobs)
                    w.Line($"case Job.{job.Name}: {job.Name}(part, parts); break;");
            }
        }
        w.Line();
        foreach (var job in _jobs)
        {
            w.Line($"/// <summary>{job.Doc}</summary>");
            using (w.Block($"private void {job.Name}(int part, int parts)"))
                job.Body(w);
            w.Line();
        }
    }

    /// <summary>
    /// How many rows of a matrix of <paramref name="rows"/> rows a part's share is a multiple of: whole panels (32 for
    /// float32 panels, 16 for Int8's, 8 for BlockMatrix's), else <paramref name="rowMajor"/>. A share that splits a panel still
    /// gives the same bits (its edge rows repeat their lanes' arithmetic), only slower.
    /// </summary>
    public static int SplitRows(ModelShape s, int rows, int rowMajor) => s.Panels(rows) ? 32 : s.Precision switch
    {
        Precision.Int8 => 16,
        Precision.Q4_0 or Precision.Q4K => 8, // BlockMatrix panels
        _ => rowMajor,
    };

    /// <summary>
    /// Writes a part's loop over the rows of a decode-time matrix-vector job (<c>WorkerPool.NextRows</c>): a fixed share of
    /// the first three quarters of the rows, then claims from the rest, so the part that finishes early takes more of
    /// the tail. A claim is at least 64 KiB of weights and at most a 32nd of the tail, in multiples of
    /// <paramref name="split"/>. A job has one such loop: the pool's count of claimed rows belongs to the run.
    /// <paramref name="body"/> writes the work on rows [rs, re).
    /// </summary>
    public static void EmitRowClaims(SourceWriter w, ModelShape s, int rows, int cols, int split, Action body)
    {
        int RoundUp(int x) => (x + split - 1) / split * split;
        long rowBytes = s.RowBytes(cols);
        int fixedRows = rows / split * 3 / 4 * split;
        int chunk = RoundUp(Math.Max((int)((64 * 1024 + rowBytes - 1) / rowBytes), (rows - fixedRows) / 32));
        w.Line(fixedRows == rows
            ? $"// All {I(rows)} rows in fixed shares, in multiples of {I(split)}."
            : $"// Rows 0..{I(fixedRows)} in fixed shares, then {I(fixedRows)}..{I(rows)} claimed {I(chunk)} at a time by whichever part asks first.");
        w.Line("bool fixedTaken = false;");
        using (w.Block($"while (_pool.NextRows(ref fixedTaken, fixedRows: {I(fixedRows)}, count: {I(rows)}, align: {I(split)}, chunk: {I(chunk)}, part, out int rs, out int re))"))
            body();
    }
}
