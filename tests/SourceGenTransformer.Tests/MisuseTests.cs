using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using Xunit;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer.Tests;

/// <summary>Sessions and models used as they must not be: a clear exception every time, never a crash, a hang or a corrupt cache.</summary>
public class MisuseTests
{
    private static string StoryTeller => Fixture.ModelPath("storyteller.safetensors");

    [Fact]
    public void One_session_used_from_two_threads_throws_instead_of_corrupting_its_cache()
    {
        // The defect: two threads sharing a session were never detected; the final Position was wrong in a third of trials
        // and logits came out NaN with Threads = 1.
        using var model = SourceGenTransformer.Models.StoryTellerModel.Load(StoryTeller, new ModelOptions { Threads = 1 });
        int[] prompt = Enumerable.Range(0, 100).Select(i => (i * 37 + 11) % 1024).ToArray();
        int detected = 0, completed = 0;
        for (int trial = 0; trial < 20 && detected == 0; trial++)
        {
            var session = model.CreateSession();
            var errors = new List<Exception>();
            var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
            {
                for (int i = 0; i < 20; i++)
                {
                    try
                    {
                        if (t == 0) { session.Reset(); session.Forward(prompt); }
                        else session.Forward(5);
                        Interlocked.Increment(ref completed);
                    }
                    catch (Exception e)
                    {
                        lock (errors) errors.Add(e);
                    }
                }
            })).ToArray();
            foreach (Thread t in threads) t.Start();
            foreach (Thread t in threads) t.Join();
            // Every failure is the guard's; anything else (an index out of range, NaN) would be the corruption itself.
            Assert.All(errors, e =>
            {
                Assert.IsType<InvalidOperationException>(e);
                Assert.Contains("already running a call on another thread", e.Message);
            });
            detected += errors.Count;
        }
        Assert.True(detected > 0, "no overlapping call was detected in 20 trials");
        Assert.True(completed > 0);
    }

    [Fact]
    public void The_guard_is_released_after_an_error()
    {
        using var model = SourceGenTransformer.Models.StoryTellerModel.Load(StoryTeller, new ModelOptions { Threads = 1 });
        var session = model.CreateSession();
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(5000));
        Assert.Throws<ArgumentException>(() => session.Forward(ReadOnlySpan<int>.Empty));
        Assert.Equal(1024, session.Forward(5).Length);
    }

    [Fact]
    public void A_disposed_model_throws_at_the_call_and_names_its_class()
    {
        // The defect: CreateSession and Generate on a disposed model threw only at the first Forward or enumeration, naming WorkerPool.
        var model = SourceGenTransformer.Models.StoryTellerModel.Load(StoryTeller);
        var session = model.CreateSession();
        model.Dispose();
        model.Dispose(); // twice is fine
        var create = Assert.Throws<ObjectDisposedException>(() => model.CreateSession());
        Assert.Equal("StoryTellerModel", create.ObjectName);
        Assert.Contains("This StoryTellerModel was disposed", create.Message);
        Assert.Throws<ObjectDisposedException>(() => model.Generate([1, 2, 3])); // not enumerated: thrown at the call
        Assert.Equal("StoryTellerModel", Assert.Throws<ObjectDisposedException>(() => session.Forward(5)).ObjectName);
        Assert.Throws<ObjectDisposedException>(() => session.Forward([1, 2, 3]));

        var bert = BertBasic.Load(Fixture.Path("bert-basic.safetensors"));
        bert.Dispose();
        Assert.Equal("BertBasic", Assert.Throws<ObjectDisposedException>(() => bert.Encode([1, 2, 3])).ObjectName);
        var s2s = S2sPostRelu.Load(Fixture.Path("s2s-post-relu.safetensors"));
        s2s.Dispose();
        Assert.Equal("S2sPostRelu", Assert.Throws<ObjectDisposedException>(() => s2s.Translate([2, 5, 3])).ObjectName);
    }

    [Fact]
    public void Disposing_a_model_while_another_thread_generates_ends_that_thread_with_ObjectDisposedException()
    {
        int interrupted = 0;
        for (int trial = 0; trial < 10; trial++)
        {
            var model = SourceGenTransformer.Models.StoryTellerModel.Load(StoryTeller, new ModelOptions { Threads = 2 });
            using var started = new ManualResetEventSlim();
            Exception? error = null;
            int produced = 0;
            var generator = new Thread(() =>
            {
                try
                {
                    foreach (int _ in model.Generate([1, 419], new GenerationOptions { MaxNewTokens = 250, Temperature = 1f, Seed = 1 }))
                    {
                        produced++;
                        started.Set();
                    }
                }
                catch (Exception e)
                {
                    error = e;
                }
                started.Set();
            });
            generator.Start();
            started.Wait();
            model.Dispose();
            Assert.True(generator.Join(TimeSpan.FromSeconds(30)), "the generating thread hung after Dispose");
            if (error is null) continue; // it finished (or hit EOS) before the model went away
            Assert.Equal("StoryTellerModel", Assert.IsType<ObjectDisposedException>(error).ObjectName);
            interrupted++;
        }
        Assert.True(interrupted > 0, "no trial disposed the model while it generated");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Model, Thread[] Workers) LoadAndDrop()
    {
        var model = SourceGenTransformer.Models.StoryTellerModel.Load(StoryTeller, new ModelOptions { Threads = 3 });
        var pool = (WorkerPool)typeof(SourceGenTransformer.Models.StoryTellerModel).GetField("_pool", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(model)!;
        model.CreateSession().Forward(5); // the workers have run
        return (new WeakReference(model), pool.WorkerThreads);
    }

    [Fact]
    public void A_model_dropped_without_Dispose_is_collected_and_its_workers_exit()
    {
        // The defect: the workers held the pool, so an undisposed model kept its threads forever (100 loads left 308 threads).
        var dropped = Enumerable.Range(0, 10).Select(_ => LoadAndDrop()).ToArray();
        Assert.All(dropped, d => Assert.Equal(2, d.Workers.Length));
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.All(dropped, d => Assert.False(d.Model.IsAlive));
        foreach (var d in dropped)
            foreach (Thread worker in d.Workers)
                Assert.True(worker.Join(TimeSpan.FromSeconds(10)), "a worker of a collected model is still running");
    }

    [Fact]
    public void A_disposed_pool_joins_its_workers()
    {
        var pool = new WorkerPool(3, "Owner");
        Thread[] workers = pool.WorkerThreads;
        pool.Dispose();
        Assert.All(workers, w => Assert.False(w.IsAlive));
        Assert.True(pool.IsDisposed);
        Assert.Equal("Owner", Assert.Throws<ObjectDisposedException>(() => pool.ThrowIfDisposed()).ObjectName);
    }
}
