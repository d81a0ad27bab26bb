using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace SourceGenTransformer;

/// <summary>
/// Work that a <see cref="WorkerPool"/> splits into parts: part <c>p</c> of <c>parts</c> runs on worker <c>p</c>
/// (part 0 on the calling thread). Generated sessions implement it; each part must touch only its own slice of
/// the outputs, so the result does not depend on how many parts there are.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Execute(int part, int parts);
}

/// <summary>
/// A fixed set of threads owned by a model, for splitting kernels (matrix rows, attention heads) across cores.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Run"/> publishes the work, runs part 0 on the calling thread and waits for the rest. Nothing is
/// allocated per call: no tasks, no closures, no delegates. Idle workers spin for about
/// <see cref="SpinMicroseconds"/> (the gap between two kernels of one token is far shorter) and then block on a
/// monitor, so a worker whose core the operating system has taken away costs the caller at most one blocked wake-up,
/// not a stalled spin barrier.
/// </para>
/// <para>
/// Calls to <see cref="Run"/> from different threads are serialised: sessions of one model may be used from
/// several threads, each call waiting for the pool in turn. With one thread the pool starts no threads and
/// <see cref="Run"/> is a plain call.
/// </para>
/// </remarks>
public sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle thread spins before it blocks.</summary>
    public const int SpinMicroseconds = 200;

    private static readonly long SpinTicks = Math.Max(1, Stopwatch.Frequency * SpinMicroseconds / 1_000_000);

    private readonly Thread[] _threads;
    private readonly object _runLock = new();
    private readonly object _gate = new();
    private IParallelWork? _work;
    private int _generation;
    private int _pending;
    private int _sleepingWorkers;
    private int _callerSleeping;
    private bool _disposed;
    private ExceptionDispatchInfo? _failure;

    /// <summary>Creates a pool of <paramref name="threads"/> threads in all, the caller's included; 0 means one per processor.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative or above 256.</exception>
    public WorkerPool(int threads = 0)
    {
        ModelOptions.CheckThreads(threads, nameof(threads));
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        _threads = new Thread[Threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int part = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(part)) { IsBackground = true, Name = $"SourceGenTransformer worker {part}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads that run work, the caller's included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <c>work.Execute(p, Threads)</c> for every part p, part 0 on this thread, and returns when all are done.
    /// An exception from any part is rethrown here (the first one, if several parts fail).
    /// </summary>
    public void Run(IParallelWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (_threads.Length == 0)
        {
            work.Execute(0, 1);
            return;
        }

        lock (_runLock)
        {
            _work = work;
            _failure = null;
            Volatile.Write(ref _pending, _threads.Length);
            // A full fence: either a worker about to sleep sees the new generation, or we see it sleeping and wake it.
            Interlocked.Increment(ref _generation);
            if (Volatile.Read(ref _sleepingWorkers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);

            try
            {
                work.Execute(0, Threads);
            }
            finally
            {
                WaitForWorkers();
                _work = null;
            }
            _failure?.Throw();
        }
    }

    /// <summary>The rows [start, end) of <paramref name="count"/> that part <paramref name="part"/> of <paramref name="parts"/> takes; boundaries are multiples of <paramref name="align"/> (except the last).</summary>
    public static (int Start, int End) Range(int count, int align, int part, int parts)
    {
        int blocks = (count + align - 1) / align;
        int start = (int)((long)blocks * part / parts) * align;
        int end = (int)((long)blocks * (part + 1) / parts) * align;
        return (Math.Min(start, count), Math.Min(end, count));
    }

    private void WaitForWorkers()
    {
        long deadline = Stopwatch.GetTimestamp() + SpinTicks;
        while (Volatile.Read(ref _pending) != 0)
        {
            if (Stopwatch.GetTimestamp() < deadline)
            {
                Thread.SpinWait(8);
                continue;
            }
            lock (_gate)
            {
                Interlocked.Exchange(ref _callerSleeping, 1);
                while (Volatile.Read(ref _pending) != 0) Monitor.Wait(_gate);
                Interlocked.Exchange(ref _callerSleeping, 0);
            }
        }
    }

    private void WorkerLoop(int part)
    {
        int seen = 0;
        while (true)
        {
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            while (Volatile.Read(ref _generation) == seen && !Volatile.Read(ref _disposed))
            {
                if (Stopwatch.GetTimestamp() < deadline)
                {
                    Thread.SpinWait(8);
                    continue;
                }
                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepingWorkers);
                    while (Volatile.Read(ref _generation) == seen && !Volatile.Read(ref _disposed)) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepingWorkers);
                }
            }
            if (Volatile.Read(ref _disposed)) return;
            seen = Volatile.Read(ref _generation);

            try
            {
                _work!.Execute(part, Threads);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }

            if (Interlocked.Decrement(ref _pending) == 0 && Volatile.Read(ref _callerSleeping) != 0)
                lock (_gate) Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Stops the threads. Work already running finishes first.</summary>
    public void Dispose()
    {
        lock (_runLock)
        {
            if (_disposed) return;
            Volatile.Write(ref _disposed, true);
            lock (_gate) Monitor.PulseAll(_gate);
        }
        foreach (Thread t in _threads) t.Join();
    }
}
