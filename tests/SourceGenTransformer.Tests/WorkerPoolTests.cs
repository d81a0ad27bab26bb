using System;
using System.Threading;
using Xunit;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer.Tests;

public class WorkerPoolTests
{
    private sealed class Count(int parts) : IParallelWork
    {
        public readonly int[] Runs = new int[parts];
        public int Parts;

        public void Execute(int part, int parts)
        {
            Parts = parts;
            Interlocked.Increment(ref Runs[part]);
        }
    }

    private sealed class Fail : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            if (part == parts - 1) throw new InvalidOperationException("part " + part);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Run_executes_every_part_once_each_time(int threads)
    {
        using var pool = new WorkerPool(threads);
        var work = new Count(threads);
        for (int i = 0; i < 1000; i++) pool.Run(work);
        Assert.All(work.Runs, r => Assert.Equal(1000, r));
        Assert.Equal(threads, work.Parts);
    }

    [Fact]
    public void Run_survives_idle_gaps_longer_than_the_spin()
    {
        // Workers block after spinning; each Run must still wake them.
        using var pool = new WorkerPool(2);
        var work = new Count(2);
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(5);
            pool.Run(work);
        }
        Assert.All(work.Runs, r => Assert.Equal(5, r));
    }

    private sealed class Where(int parts) : IParallelWork
    {
        public readonly int[] Thread = new int[parts];
        public readonly int[] Runs = new int[parts];

        public void Execute(int part, int parts)
        {
            Thread[part] = Environment.CurrentManagedThreadId;
            Interlocked.Increment(ref Runs[part]);
        }
    }

    [Fact]
    public void Parts_whose_worker_has_not_come_run_on_the_caller_once()
    {
        // After an idle gap the workers are blocked; waking one takes far longer than the caller's empty part 0,
        // so the caller takes the workers' parts itself instead of waiting for them. Every part still runs once.
        using var pool = new WorkerPool(3);
        int caller = Environment.CurrentManagedThreadId, taken = 0;
        for (int i = 0; i < 20; i++)
        {
            Thread.Sleep(2);
            var work = new Where(3);
            pool.Run(work);
            Assert.All(work.Runs, r => Assert.Equal(1, r));
            Assert.Equal(caller, work.Thread[0]);
            for (int p = 1; p < 3; p++) taken += work.Thread[p] == caller ? 1 : 0;
        }
        Assert.True(taken > 0, "the caller never ran a part of a blocked worker");
        // And workers that are back take part again.
        var busy = new Count(3);
        for (int i = 0; i < 1000; i++) pool.Run(busy);
        Assert.All(busy.Runs, r => Assert.Equal(1000, r));
    }

    [Fact]
    public void An_exception_in_a_worker_reaches_the_caller_and_the_pool_still_works()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new Fail()));
        Assert.Equal("part 1", e.Message);
        var work = new Count(2);
        pool.Run(work);
        Assert.All(work.Runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void Runs_from_several_threads_take_turns()
    {
        using var pool = new WorkerPool(2);
        var works = new[] { new Count(2), new Count(2), new Count(2) };
        var threads = new Thread[works.Length];
        for (int i = 0; i < threads.Length; i++)
        {
            Count w = works[i];
            threads[i] = new Thread(() => { for (int k = 0; k < 300; k++) pool.Run(w); });
            threads[i].Start();
        }
        foreach (Thread t in threads) t.Join();
        Assert.All(works, w => Assert.All(w.Runs, r => Assert.Equal(300, r)));
    }

    [Fact]
    public void Disposed_pool_refuses_work_and_bad_counts_are_rejected()
    {
        var pool = new WorkerPool(2);
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Run(new Count(2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(-1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LlamaOdd.Load(Fixture.Path("llama-odd.safetensors"), new ModelOptions { Threads = 1000 }));
        Assert.Contains("1000", e.Message);
    }

    [Theory]
    [InlineData(100, 4, 2)]
    [InlineData(37, 4, 3)]
    [InlineData(5, 4, 8)]
    [InlineData(32000, 4, 2)]
    public void Range_covers_every_row_once_on_aligned_boundaries(int count, int align, int parts)
    {
        int next = 0;
        for (int p = 0; p < parts; p++)
        {
            (int start, int end) = WorkerPool.Range(count, align, p, parts);
            Assert.Equal(next, start);
            Assert.True(end >= start);
            if (end != count) Assert.Equal(0, end % align);
            next = end;
        }
        Assert.Equal(count, next);
    }

    /// <summary>Parts of a pool claim a job's rows with <see cref="WorkerPool.NextRows"/>, marking each row they get.</summary>
    private sealed class Claims(WorkerPool pool, int count, int fixedRows, int align, int chunk, int slowPart) : IParallelWork
    {
        public readonly int[] Owner = new int[count];
        public readonly int[] Hits = new int[count];
        public bool Misaligned;

        public void Execute(int part, int parts)
        {
            bool fixedTaken = false;
            while (pool.NextRows(ref fixedTaken, fixedRows, count, align, chunk, part, out int rs, out int re))
            {
                if (rs % align != 0 || (re != count && re % align != 0)) Misaligned = true;
                for (int r = rs; r < re; r++)
                {
                    Interlocked.Increment(ref Hits[r]);
                    Owner[r] = part;
                }
                if (part == slowPart) Thread.Sleep(1);
            }
        }
    }

    [Theory]
    [InlineData(1, 2048, 1536, 32, 32)]
    [InlineData(2, 2048, 1536, 32, 32)]
    [InlineData(3, 864, 640, 32, 64)]
    [InlineData(2, 32000, 24000, 4, 252)]
    [InlineData(2, 37, 24, 4, 8)]
    [InlineData(3, 5, 0, 4, 4)]
    public void NextRows_hands_out_every_row_once_on_aligned_boundaries(int threads, int count, int fixedRows, int align, int chunk)
    {
        using var pool = new WorkerPool(threads);
        for (int run = 0; run < 20; run++)
        {
            // A fresh job each run: the pool's count of claimed tail rows starts again at 0.
            var claims = new Claims(pool, count, fixedRows, align, chunk, slowPart: -1);
            pool.Run(claims);
            Assert.All(claims.Hits, h => Assert.Equal(1, h));
            Assert.False(claims.Misaligned);
        }
    }

    [Fact]
    public void NextRows_gives_the_tail_to_the_part_that_is_not_held_up()
    {
        using var pool = new WorkerPool(2);
        // Part 1 sleeps after every range; part 0 should claim most of the 64 tail chunks.
        var claims = new Claims(pool, count: 1024, fixedRows: 512, align: 4, chunk: 8, slowPart: 1);
        pool.Run(claims);
        Assert.All(claims.Hits, h => Assert.Equal(1, h));
        Assert.Equal(0, claims.Owner[0]);
        Assert.Equal(1, claims.Owner[256]);
        int tailByPart0 = 0;
        for (int r = 512; r < 1024; r++) tailByPart0 += claims.Owner[r] == 0 ? 1 : 0;
        Assert.True(tailByPart0 > 256, $"part 0 took {tailByPart0} of 512 tail rows");
    }

    [Fact]
    public void Model_reports_its_threads_and_default_is_one_per_processor()
    {
        using LlamaOdd model = LlamaOdd.Load(Fixture.Path("llama-odd.safetensors"));
        Assert.Equal(Environment.ProcessorCount, model.Threads);
        using LlamaOdd single = LlamaOdd.Load(Fixture.Path("llama-odd.safetensors"), new ModelOptions { Threads = 1 });
        Assert.Equal(1, single.Threads);
    }
}
