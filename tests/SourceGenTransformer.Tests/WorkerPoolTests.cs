using System;
using System.Threading;
using Xunit;

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

    [Fact]
    public void Model_reports_its_threads_and_default_is_one_per_processor()
    {
        using LlamaOdd model = LlamaOdd.Load(Fixture.Path("llama-odd.safetensors"));
        Assert.Equal(Environment.ProcessorCount, model.Threads);
        using LlamaOdd single = LlamaOdd.Load(Fixture.Path("llama-odd.safetensors"), new ModelOptions { Threads = 1 });
        Assert.Equal(1, single.Threads);
    }
}
